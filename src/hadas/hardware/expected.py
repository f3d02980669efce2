"""Expected cost of a DyNN per inference, from its segment costs and its exit rates."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hadas.errors import ConfigError
from hadas.hardware.analytical import SegmentCosts


def exit_prefix_costs(costs: SegmentCosts) -> tuple[np.ndarray, np.ndarray]:
    """Latency and energy of a sample that leaves at exit i, for every exit (final last):
    backbone segments 0..i plus exit heads 0..i (the final head is in the last backbone
    segment). Shapes [n_exits] or [n_exits, n_points]."""
    kinds = np.array(costs.kinds)
    backbone, heads = kinds == "backbone", kinds == "exit"
    out = []
    for values in (costs.latency_ms, costs.energy_mj):
        bb = np.cumsum(values[backbone], axis=0)
        hd = np.cumsum(values[heads], axis=0)
        zero = np.zeros((1, *values.shape[1:]))
        out.append(bb + np.concatenate([hd, hd[-1:] if len(hd) else zero]))
    return out[0], out[1]


def expected_costs(costs: SegmentCosts, exit_rates: Sequence[float] | np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Expected latency_ms and energy_mj per inference: sum_i rate_i x cost of leaving at i.

    `exit_rates[i]` is the fraction of samples leaving at exit i (final classifier last): shape
    [n_exits], or [n_exits, n_points] to pair rates with DVFS points; they must sum to 1."""
    rates = np.asarray(exit_rates, dtype=float)
    n_exits = costs.kinds.count("backbone")
    if rates.ndim == 0 or rates.shape[0] != n_exits:
        raise ConfigError("exit_rates", f"needs one rate per exit ({n_exits}, final last), "
                          f"got shape {rates.shape}")
    if np.any(rates < 0) or not np.allclose(rates.sum(axis=0), 1.0, atol=1e-6):
        raise ConfigError("exit_rates", "must be >= 0 and sum to 1 over the exits")
    # segment j is paid by every sample that leaves at exit j or later: weight the segments by
    # the survival sum_{i >= j} rate_i (backbone segment j and exit head j alike)
    survival = np.cumsum(rates[::-1], axis=0)[::-1]
    kinds = np.array(costs.kinds)
    weights = np.empty((len(kinds), *survival.shape[1:]))
    weights[kinds == "backbone"] = survival
    weights[kinds == "exit"] = survival[: int((kinds == "exit").sum())]
    if weights.ndim == 1:
        return weights @ costs.latency_ms, weights @ costs.energy_mj
    return (weights * costs.latency_ms).sum(axis=0), (weights * costs.energy_mj).sum(axis=0)
