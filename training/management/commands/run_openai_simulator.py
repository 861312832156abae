"""``manage.py run_openai_simulator``: serve the bundled fine-tuning simulator (OpenAI's,
Together's and Fireworks' API shapes) on the port of ``CURATOR_SIMULATOR_URL``."""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from training.evaluation.services.demo import teach_simulator
from training.providers.registry import simulator_url
from training.simulator import DEFAULT_PORT, FaultSpecError, SimulatorServer, parse_faults


def configured_port() -> int:
    """The port the app calls the simulator on (CURATOR_SIMULATOR_URL), so both agree."""
    url = str(getattr(settings, "CURATOR_SIMULATOR_URL", "") or "")
    return urlsplit(url).port or DEFAULT_PORT


class Command(BaseCommand):
    help = (
        "Run a local stand-in for OpenAI's, Together's and Fireworks' fine-tuning APIs "
        "for development and demos. "
        "Webhooks are signed with OPENAI_WEBHOOK_SECRET when --webhook-url is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument(
            "--port", type=int, default=None, help="default: the port of CURATOR_SIMULATOR_URL"
        )
        parser.add_argument(
            "--speed",
            type=float,
            default=5.0,
            help="simulated seconds per real second (a small job takes ~2 minutes at 1)",
        )
        parser.add_argument(
            "--faults",
            default="",
            help="scripted failures, e.g. 'jobs.create=500,429;files.create=timeout'",
        )
        parser.add_argument("--webhook-url", default="")
        parser.add_argument(
            "--chat-latency", type=float, default=0.0, help="seconds per chat completion"
        )
        parser.add_argument(
            "--api-keys",
            default="",
            help="comma-separated keys to accept (default: any key not starting sk-bad)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["speed"] <= 0:
            raise CommandError("--speed must be positive")
        try:
            parse_faults(options["faults"])
        except FaultSpecError as exc:
            raise CommandError(str(exc)) from None
        webhook_url = options["webhook_url"] or None
        secret = os.environ.get("OPENAI_WEBHOOK_SECRET") or None
        keys = {k.strip() for k in options["api_keys"].split(",") if k.strip()} or None
        try:
            server = SimulatorServer(
                host=options["host"],
                port=options["port"] if options["port"] is not None else configured_port(),
                speed=options["speed"],
                faults=options["faults"] or None,
                webhook_url=webhook_url,
                webhook_secret=secret,
                api_keys=keys,
            )
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot start the simulator: {exc}") from None
        server.state.chat_latency = options["chat_latency"]
        taught = teach_simulator(server.state)
        self.stdout.write(
            f"Fine-tuning simulator listening on {server.url} (speed x{server.state.speed:g}): "
            f"OpenAI at {server.base_url}, Together at {server.url}/together, "
            f"Fireworks at {server.url}/fireworks, Azure OpenAI at {server.url}/openai/v1 "
            f"(its control plane at {server.url}/azure-management)"
        )
        if server.base_url != simulator_url("openai"):
            self.stdout.write(
                f"Note: CURATOR_SIMULATOR_URL is {simulator_url('openai')}; set it to "
                f"{server.base_url} so the app calls this simulator"
            )
        self.stdout.write(f"Chat completions also for {taught} fine-tuned model(s) in the database")
        if webhook_url:
            self.stdout.write(f"Posting signed webhooks to {webhook_url}")
            if secret is None:
                # Without a shared secret the receiver cannot verify anything; print the
                # generated one so a developer can copy it into the app's environment.
                self.stdout.write(f"OPENAI_WEBHOOK_SECRET not set; using {server.webhook_secret}")
        if threading.current_thread() is threading.main_thread():
            # Containers and process managers stop services with SIGTERM; treat it like
            # Ctrl-C so the port is released and pending webhooks get their chance.
            signal.signal(signal.SIGTERM, _interrupt)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            self.stdout.write("Simulator stopped")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
