"""Supernet training (sandwich rule, in-place distillation, resumable checkpoints)."""
from hadas.training.distributed import (SINGLE, DistributedError, World, process_group,
                                        world_from_env)
from hadas.training.schedule import warmup_cosine_lr
from hadas.training.supernet_trainer import CHECKPOINT_NAME, TrainResult, train_supernet

__all__ = ["CHECKPOINT_NAME", "SINGLE", "DistributedError", "TrainResult", "World",
           "process_group", "train_supernet", "warmup_cosine_lr", "world_from_env"]
