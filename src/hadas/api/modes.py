"""Names the command line offers as choices, read from their registries (no torch here, so the
command line lists them without loading models)."""
from hadas.executors import EXECUTORS
from hadas.space.policies import POLICIES

MODES = ("hadas", "ioe", "conventional", "static", "exits-only", "dvfs-only", "random")
EXIT_POLICIES = POLICIES.names()
EXECUTOR_NAMES = EXECUTORS.names()
