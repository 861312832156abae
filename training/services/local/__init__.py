"""Local LoRA fine-tunes: the same job lifecycle as hosted providers, trained on our GPUs.

Two RQ queues share the row: ``handoff`` runs on "training" (any machine) and hands the row
to a GPU worker; ``gpu_job`` runs on "training-gpu" and trains, reporting through
``callbacks``. The runner reaches this flow through its table of steps by job kind.
"""
