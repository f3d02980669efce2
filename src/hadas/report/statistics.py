"""Statistics over seeds: a bootstrap interval for a mean, and a paired per-seed comparison
(wins/losses and the Wilcoxon signed-rank test). With n seeds the exact two-sided Wilcoxon
p-value cannot fall below 2 / 2^n: 0.0625 for 5 seeds, 0.031 for 6, 0.0078 for 8."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return f"{self.mean:.4f} [{self.low:.4f}, {self.high:.4f}]"

    def format(self, digits: int) -> str:
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


@dataclass(frozen=True)
class Paired:
    wins: int            # seeds where ours is larger
    losses: int
    ties: int
    p_value: float       # Wilcoxon signed-rank, two-sided (exact for small n); 1 if all tie
    mean_difference: float


def bootstrap_mean(values: Sequence[float], level: float = 0.95, resamples: int = 10_000,
                   seed: int = 0) -> Interval:
    """The mean and its percentile-bootstrap interval (seeded, so reports are reproducible)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("a bootstrap interval needs at least one value")
    means = x[np.random.default_rng(seed).integers(0, x.size, (resamples, x.size))].mean(axis=1)
    tail = 100 * (1 - level) / 2
    return Interval(float(x.mean()), float(np.percentile(means, tail)),
                    float(np.percentile(means, 100 - tail)), int(x.size))


def paired(ours: Sequence[float], theirs: Sequence[float]) -> Paired:
    """Ours against theirs, seed by seed (the same seeds, in the same order)."""
    a, b = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"paired values need the same seeds on both sides, got {a.size} "
                         f"and {b.size}")
    from scipy import stats  # only here: the report and the command line start without it

    d = a - b
    p = 1.0 if np.all(d == 0) else float(stats.wilcoxon(a, b, alternative="two-sided").pvalue)
    return Paired(int((d > 0).sum()), int((d < 0).sum()), int((d == 0).sum()), p,
                  float(d.mean()))
