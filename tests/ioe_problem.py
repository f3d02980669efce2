"""A real inner problem without training: the tiny supernet's largest backbone, a seeded exit
cache whose exits grow more accurate and more confident with depth, the real exit simulator and
the calibrated AGX Xavier model (for IOE tests that need real costs over a real DVFS grid)."""
from __future__ import annotations

import numpy as np

from hadas.evaluation.dynamic import DynnEvaluator
from hadas.exits import ExitCache, ExitSimulator
from hadas.hardware import HardwareModel
from hadas.space import BackboneSpace, ExitDvfsSpace

PLATFORM = "agx-xavier-calibrated"


def exit_cache(positions: tuple[int, ...], n: int = 400, seed: int = 0) -> ExitCache:
    rng = np.random.default_rng(seed)
    k = len(positions)
    labels = rng.integers(0, 10, n)
    skill = np.linspace(0.55, 0.95, k + 1)[:, None]         # deeper rows are better
    correct = rng.random((k + 1, n)) < skill
    pred = np.where(correct, labels, (labels + 1) % 10).astype(np.int16)
    confidence = np.clip(np.where(correct, 0.75, 0.45) + 0.2 * rng.standard_normal((k + 1, n)),
                         0.0, 1.0).astype(np.float32)
    return ExitCache(positions, labels, pred, correct, confidence,
                     (1.0 - confidence).astype(np.float32), None)


def real_problem(tiny_cfg, which: str = "largest", seed: int = 0,
                 thresholds=(0.5, 0.6, 0.7, 0.8, 0.9)):
    """(space with the platform's whole DVFS tables, evaluator) of one tiny backbone."""
    space = BackboneSpace(tiny_cfg.supernet)
    sk = space.skeleton(getattr(space, which)())
    positions = tuple(range(tiny_cfg.exits.first_exit_block, sk.n_blocks))
    hw = HardwareModel(PLATFORM, exit_channels=tiny_cfg.exits.exit_channels)
    inner = ExitDvfsSpace(positions, thresholds, hw.platform.dvfs_hz)
    return inner, DynnEvaluator(sk, ExitSimulator(exit_cache(positions, seed=seed)), hw)
