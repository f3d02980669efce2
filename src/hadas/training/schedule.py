"""Learning-rate schedule: linear warm-up, then cosine decay to zero (per optimiser step)."""
from __future__ import annotations

import math


def warmup_cosine_lr(step: int, total_steps: int, warmup_steps: int, base_lr: float,
                     warmup_lr: float) -> float:
    """The learning rate at `step` (0-based) of `total_steps`."""
    if step < warmup_steps:
        return warmup_lr + (base_lr - warmup_lr) * step / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * min(1.0, progress)))
