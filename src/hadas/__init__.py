"""hadas: hardware-aware dynamic neural architecture search (backbone + early exits + DVFS)."""
from hadas.errors import CheckpointError, ConfigError, DataError, HadasError

__version__ = "0.1.0"

__all__ = ["CheckpointError", "ConfigError", "DataError", "HadasError", "__version__"]
