"""The search modes (no torch here, so the command line lists them without loading models)."""

MODES = ("hadas", "ioe", "conventional", "static", "exits-only", "dvfs-only", "random")
