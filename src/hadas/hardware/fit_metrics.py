"""Fit quality: mean absolute percentage error, Kendall's tau-b and Spearman's rho (ranks)."""
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


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1, ties given their mean rank."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(x.size)
    ranks[order] = np.arange(x.size)
    values, inverse = np.unique(x, return_inverse=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / np.bincount(inverse))[inverse]


def spearman_rho(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (Pearson's r of the tie-averaged ranks)."""
    rx = _ranks(np.asarray(x, dtype=float))
    ry = _ranks(np.asarray(y, dtype=float))
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = np.sqrt((rx * rx).sum() * (ry * ry).sum())
    return float("nan") if denom == 0 else float((rx * ry).sum() / denom)


def agreement(measured: np.ndarray, predicted: np.ndarray) -> dict[str, float | int]:
    """MAPE, Kendall tau, Spearman rho and measured / predicted percentiles (10, 50, 90)."""
    y, p = np.asarray(measured, dtype=float), np.asarray(predicted, dtype=float)
    ratio = y / p
    return {"n": int(y.size), "mape": round(mape(y, p), 3),
            "kendall_tau": round(kendall_tau(y, p), 4), "spearman_rho": round(spearman_rho(y, p), 4),
            "ratio_p10": round(float(np.percentile(ratio, 10)), 4),
            "ratio_median": round(float(np.median(ratio)), 4),
            "ratio_p90": round(float(np.percentile(ratio, 90)), 4)}
