"""The public API: what the `hadas` command does, callable from Python (one module per area)."""
from hadas.api.exits import ExitEvaluation, evaluate_exits, train_exit_bank
from hadas.api.supernet import configure, default_supernet_dir, describe, evaluate, train_supernet

__all__ = ["ExitEvaluation", "evaluate_exits", "train_exit_bank", "configure", "default_supernet_dir", "describe", "evaluate", "train_supernet"]
