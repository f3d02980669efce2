"""Constraints on DyNNs (e.g. latency <= X ms, top-1 >= Y %), handled by penalty: a DyNN that
violates a limit is ranked behind every feasible one (its objectives are pushed past any
feasible value by its relative violation), and never enters the archive."""
from __future__ import annotations

import numpy as np

from hadas.config import ConstraintsConfig

PENALTY = 1e9


def violation(F: np.ndarray, limits: ConstraintsConfig) -> np.ndarray:
    """Summed relative violation of each row of F = (error %, latency ms, energy mJ); 0 = ok."""
    F = np.atleast_2d(np.asarray(F, dtype=float))
    v = np.zeros(len(F))
    if limits.min_top1 is not None:
        v += np.maximum(0.0, F[:, 0] - (100.0 - limits.min_top1)) / 100.0  # error above the cap
    if limits.max_latency_ms is not None:
        v += np.maximum(0.0, F[:, 1] - limits.max_latency_ms) / max(limits.max_latency_ms, 1e-12)
    if limits.max_energy_mj is not None:
        v += np.maximum(0.0, F[:, 2] - limits.max_energy_mj) / max(limits.max_energy_mj, 1e-12)
    return v


def penalised(F: np.ndarray, limits: ConstraintsConfig) -> np.ndarray:
    """Objectives for selection: infeasible rows moved behind every feasible one."""
    v = violation(F, limits)
    return np.asarray(F, dtype=float) + np.where(v > 0, PENALTY * (1.0 + v), 0.0)[:, None]
