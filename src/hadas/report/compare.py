"""Comparing finished runs: the paper's energy gain at equal accuracy.

Energy gain of run A against a baseline run B (HADAS's "up to 57 % higher energy efficiency
at the same accuracy"): for each DyNN of B's archive, take the least-energy DyNN of A whose
top-1 is at least as high; its energy reduction is 1 - E_A / E_B. DyNNs of B that A cannot
match in accuracy are counted as unmatched, never as gains.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EnergyGain:
    max_pct: float | None        # the best reduction over the matched baseline DyNNs
    mean_pct: float | None
    matched: int
    unmatched: int
    pairs: list[dict[str, float]]


def energy_gain(ours: Sequence[dict[str, Any]], baseline: Sequence[dict[str, Any]]) -> EnergyGain:
    """Energy reduction (%) of `ours` against `baseline` at equal or better accuracy; both are
    archives of result.json (entries with a "dynn" holding top1 and energy_mj)."""
    pairs, unmatched = [], 0
    for b in baseline:
        acc, energy = b["dynn"]["top1"], b["dynn"]["energy_mj"]
        better = [o["dynn"]["energy_mj"] for o in ours if o["dynn"]["top1"] >= acc]
        if not better:
            unmatched += 1
            continue
        best = min(better)
        pairs.append({"baseline_top1": acc, "baseline_energy_mj": energy, "energy_mj": best,
                      "reduction_pct": 100.0 * (1.0 - best / energy)})
    gains = [p["reduction_pct"] for p in pairs]
    return EnergyGain(max(gains) if gains else None, sum(gains) / len(gains) if gains else None,
                      len(pairs), unmatched, pairs)
