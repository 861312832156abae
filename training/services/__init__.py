"""Fine-tuning workflows: launching (checks, estimates), the worker flow, following a job.

``launch`` runs in the web process and the CLI; ``runner`` and ``sync`` run in the
"training" worker; ``webhooks`` turns a verified provider webhook into a sync.
"""

from training.services.launch import (
    LaunchError,
    cancel_finetune,
    cli_summary,
    create_finetune_job,
    retry_finetune,
)
from training.services.launch_checks import LaunchCheck, check_launch
from training.services.runner import (
    continue_finetune_job,
    drive_finetune,
    run_finetune_job,
    step_finetune,
)
from training.services.sync import refresh_finetune, sync_finetune
from training.services.webhooks import WebhookRejected, handle_openai_webhook

__all__ = [
    "LaunchCheck",
    "LaunchError",
    "WebhookRejected",
    "cancel_finetune",
    "check_launch",
    "cli_summary",
    "continue_finetune_job",
    "create_finetune_job",
    "drive_finetune",
    "handle_openai_webhook",
    "refresh_finetune",
    "retry_finetune",
    "run_finetune_job",
    "step_finetune",
    "sync_finetune",
]
