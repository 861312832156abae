"""Child processes that die with their parent.

A process killed outright (SIGKILL, the OOM killer) takes no child with it: its children are
re-parented and run on, holding memory and database connections. A child that calls
`die_with_parent` first is killed by the kernel as soon as its parent ends (Linux's
PR_SET_PDEATHSIG), and exits at once if the parent is already gone.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys

logger = logging.getLogger(__name__)

# prctl(2) option: the signal the kernel sends this process when its parent dies.
PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Have the kernel SIGKILL this process once `parent` (the pid that forked it) ends.

    The signal follows the parent *thread* that forked this process: fork from a thread
    that lives as long as the parent process (its main thread)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            logger.warning("process %s cannot follow its parent's death", os.getpid())
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)
