#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "curation.settings")
    from django.core.management import execute_from_command_line

    from curation.env import EnvError

    try:
        execute_from_command_line(sys.argv)
    except EnvError as exc:
        # A missing or malformed setting is the operator's to fix: one line naming it.
        sys.exit(f"Curator cannot start: {exc}.")


if __name__ == "__main__":
    main()
