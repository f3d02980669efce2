"""Supernet training (sandwich rule, in-place distillation, resumable checkpoints)."""
from hadas.training.schedule import warmup_cosine_lr
from hadas.training.supernet_trainer import CHECKPOINT_NAME, TrainResult, train_supernet

__all__ = ["CHECKPOINT_NAME", "TrainResult", "train_supernet", "warmup_cosine_lr"]
