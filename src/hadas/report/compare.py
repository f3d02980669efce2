"""Comparing finished runs: the paper's energy gain at equal accuracy, and groups of runs
(one per seed) against each other with intervals and a paired test.

Energy gain of run A against a baseline run B (HADAS's "up to 57 % higher energy efficiency
at the same accuracy"): for each DyNN of B's archive, take the least-energy DyNN of A whose
top-1 is at least as high; its energy reduction is 1 - E_A / E_B. DyNNs of B that A cannot
match in accuracy are counted as unmatched, never as gains.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hadas.errors import ConfigError
from hadas.report.statistics import Interval, Paired, bootstrap_mean, paired
from hadas.space.dynn import ArchiveEntry, entries, least_energy_at_accuracy


@dataclass(frozen=True)
class EnergyGain:
    max_pct: float | None        # the best reduction over the matched baseline DyNNs
    mean_pct: float | None
    matched: int
    unmatched: int
    pairs: list[dict[str, float]]


def energy_gain(ours: Sequence[ArchiveEntry], baseline: Sequence[ArchiveEntry]) -> EnergyGain:
    """Energy reduction (%) of the archive `ours` against the archive `baseline` at equal or
    better accuracy."""
    pairs, unmatched = [], 0
    for b in baseline:
        acc, energy = b.dynn.top1, b.dynn.energy_mj
        pick = least_energy_at_accuracy(ours, acc)
        if pick is None:
            unmatched += 1
            continue
        best = pick.dynn.energy_mj
        pairs.append({"baseline_top1": acc, "baseline_energy_mj": energy, "energy_mj": best,
                      "reduction_pct": 100.0 * (1.0 - best / energy)})
    gains = [p["reduction_pct"] for p in pairs]
    return EnergyGain(max(gains) if gains else None, sum(gains) / len(gains) if gains else None,
                      len(pairs), unmatched, pairs)


@dataclass(frozen=True)
class GroupComparison:
    """Runs of one mode against runs of a baseline, paired by seed."""

    mode: str
    baseline: str
    seeds: list[int]
    hypervolume: Interval             # final hypervolume of ours, mean over seeds
    baseline_hypervolume: Interval
    paired: Paired                    # final hypervolume, seed by seed
    gain_mean_pct: Interval | None    # per seed: mean energy gain at equal accuracy
    gain_max_pct: Interval | None     # per seed: best energy gain at equal accuracy
    gain_seeds: int                   # seeds where some baseline DyNN was matched
    same_reference: bool              # every run has the same hypervolume reference point


def pair_by_seed(ours: Sequence[dict[str, Any]], baseline: Sequence[dict[str, Any]]
                 ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(ours, baseline) result.json pairs of the same seed; one run per side pairs as it is."""
    if len(ours) == len(baseline) == 1:
        return [(ours[0], baseline[0])]
    by_seed = [{r["seed"]: r for r in side} for side in (ours, baseline)]
    for side, runs in zip(by_seed, (ours, baseline)):
        if len(side) != len(runs):
            raise ConfigError("runs", "two runs of one side have the same seed "
                              f"({sorted(r['seed'] for r in runs)})")
    if set(by_seed[0]) != set(by_seed[1]):
        raise ConfigError("runs", f"a paired comparison needs the same seeds on both sides, got "
                          f"{sorted(by_seed[0])} and {sorted(by_seed[1])}")
    return [(by_seed[0][s], by_seed[1][s]) for s in sorted(by_seed[0])]


def compare_groups(ours: Sequence[dict[str, Any]], baseline: Sequence[dict[str, Any]]
                   ) -> GroupComparison:
    """Final hypervolume with bootstrap intervals, the paired per-seed test, and the energy
    gain at equal accuracy (per seed, then its interval over seeds)."""
    pairs = pair_by_seed(ours, baseline)
    hv = [[r["hypervolume"][-1] for r in side] for side in zip(*pairs)]
    gains = [energy_gain(entries(a["archive"]), entries(b["archive"])) for a, b in pairs]
    means = [g.mean_pct for g in gains if g.mean_pct is not None]
    best = [g.max_pct for g in gains if g.max_pct is not None]
    references = {json.dumps(r["reference_point"]) for pair in pairs for r in pair}
    return GroupComparison(pairs[0][0]["mode"], pairs[0][1]["mode"],
                           [a["seed"] for a, _ in pairs], bootstrap_mean(hv[0]),
                           bootstrap_mean(hv[1]), paired(hv[0], hv[1]),
                           bootstrap_mean(means) if means else None,
                           bootstrap_mean(best) if best else None, len(means),
                           len(references) == 1)


def dvfs_verdict_lines(breakdown: Sequence[dict[str, Any]]) -> list[str]:
    """Per breakdown backbone, one line: does exits + DVFS beat exits alone, else why."""
    lines = []
    for row in breakdown:
        v = row.get("dvfs_verdict")
        if v is None:
            continue
        if v["beats_exits"]:
            lines.append(f"{row['label']}: exits + DVFS spends {v['saving_pct']:.1f} % less "
                         "energy than exits alone at equal accuracy")
        else:
            lines.append(f"{row['label']}: exits + DVFS does not beat exits alone; {v['reason']}")
    return lines


def validation_figures(v: dict[str, Any]) -> dict[str, str]:
    """The front's figures from `hadas validate` (result.json `validation`), labelled, for the
    command line and the report alike."""
    tau = "n/a" if v["latency_kendall_tau"] is None else f"{v['latency_kendall_tau']:.3f}"
    static = ("" if v.get("static_latency_mape_pct") is None
              else f" (the static backbones alone: MAPE {v['static_latency_mape_pct']:.1f} %)")
    return {
        "DyNNs run for real": f"{v['n_dynns']} on {v['device']}, batch {v['batch']} "
                              "(early-exit programs over the evaluation split)",
        "predicted latencies were": ", ".join(v["latency_provenance"]),
        "latency, measured against predicted": f"MAPE {v['latency_mape_pct']:.1f} %, Kendall "
                                               f"tau {tau}{static}",
        "still non-dominated once measured": f"{v['nondominated_measured']} of {v['n_dynns']}",
        "measured speed-up of the exits over the static backbone":
            f"median {v['speedup_median']:.2f}x (min {v['speedup_min']:.2f}x, max "
            f"{v['speedup_max']:.2f}x)",
        "energy": "measured" if v["energy_measured"] else
                  f"not measured ({v['energy_unavailable']})",
        "programs reproduce the run's top-1 and exit rates":
            "yes" if v["all_reproduce_run"] else "NO"}

