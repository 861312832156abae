"""A local stand-in for OpenAI's files and fine-tuning API, for development and tests.

Start it in-process with :class:`SimulatorServer` or from the command line with
``manage.py run_openai_simulator``; point the official SDK at ``server.base_url``.
"""

from training.simulator.faults import ENDPOINTS, FaultSpecError, parse_faults
from training.simulator.server import DEFAULT_PORT, SimulatorServer
from training.simulator.state import BASE_MODELS, MODEL_ALIASES, SimulatorState
from training.simulator.validation import TrainingFileError, summarize_training_file
from training.simulator.webhooks import generate_secret, sign

__all__ = [
    "BASE_MODELS",
    "DEFAULT_PORT",
    "ENDPOINTS",
    "MODEL_ALIASES",
    "FaultSpecError",
    "SimulatorServer",
    "SimulatorState",
    "TrainingFileError",
    "generate_secret",
    "parse_faults",
    "sign",
    "summarize_training_file",
]
