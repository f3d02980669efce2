"""Fit quality: mean absolute percentage error and Kendall's tau-b (rank agreement)."""
from __future__ import annotations

import numpy as np


def mape(measured: np.ndarray, predicted: np.ndarray) -> float:
    """Mean |predicted - measured| / measured, in percent."""
    y, p = np.asarray(measured, dtype=float), np.asarray(predicted, dtype=float)
    return float(np.mean(np.abs(p - y) / y) * 100.0)


def kendall_tau(x: np.ndarray, y: np.ndarray, chunk: int = 256) -> float:
    """Kendall's tau-b over all pairs (ties counted as in tau-b); O(n^2) in row chunks."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = x.size
    concordance = ties_x = ties_y = 0.0
    for start in range(0, n, chunk):
        sx = np.sign(x[start:start + chunk, None] - x[None, :])
        sy = np.sign(y[start:start + chunk, None] - y[None, :])
        concordance += float((sx * sy).sum())
        ties_x += float((sx == 0).sum())
        ties_y += float((sy == 0).sum())
    pairs = n * (n - 1)                       # ordered pairs; the diagonal is a tie of both
    untied_x, untied_y = pairs - (ties_x - n), pairs - (ties_y - n)
    if untied_x == 0 or untied_y == 0:
        return float("nan")
    return float(concordance / np.sqrt(untied_x * untied_y))
