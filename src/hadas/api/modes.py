"""Names the command line offers as choices, read from their registries (no torch here, so the
command line lists them without loading models)."""
from hadas.config import HARDWARE
from hadas.executors import EXECUTORS
from hadas.search.modes import SEARCH_MODES
from hadas.space.policies import POLICIES

MODES = SEARCH_MODES.names()
MODE_HELP = "; ".join(f"{m.name}: {m.summary}" for m in SEARCH_MODES) + " (default: hadas)"
EXIT_POLICIES = POLICIES.names()
EXECUTOR_NAMES = EXECUTORS.names()
HARDWARE_BACKENDS = HARDWARE
