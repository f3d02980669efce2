"""The comparison HADAS motivates with: a backbone's energy alone (no exits, reference clocks),
with early exits (reference clocks), and with early exits + DVFS, at equal accuracy.

For each backbone the two inner fronts come from the IOE (inner modes `exits` and
`exits+dvfs`), through the run database like every other evaluation. From each front we take
the least-energy DyNN at least as accurate as the backbone alone; when none is, the most
accurate one, marked `matched: false` (never reported as a gain at equal accuracy). The
exits + DVFS stage picks from both fronts: exits at reference clocks are one of its points.

`dvfs_verdict` then says whether exits + DVFS beats exits alone and, when it does not, why,
from the exits pick's own exit plan costed over the whole DVFS grid: either no clock point
spends less energy than the reference clocks (race to idle: the power that scales with time
outweighs what lower clocks and voltages save), or one does and the inner engine missed it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hadas.space.dynn import ArchiveEntry, DynnResult, least_energy_at_accuracy
from hadas.search.bilevel import BilevelSearch
from hadas.errors import ConfigError
from hadas.space import Backbone, resolve_arch

STAGES = ("backbone", "exits", "exits+dvfs")


def pick_at_accuracy(front: Sequence[DynnResult], top1: float) -> tuple[DynnResult, bool]:
    """The least-energy DyNN with top-1 >= `top1` (True), else the most accurate one (False)."""
    pick = least_energy_at_accuracy(front, top1)
    if pick is not None:
        return pick, True
    return max(front, key=lambda d: (d.top1, -d.energy_mj)), False


def comparison_backbones(engine: BilevelSearch, archive: Sequence[ArchiveEntry]
                         ) -> dict[str, Backbone]:
    """Smallest and largest reference (a0 and a6 where the space has them, else min and max),
    and the backbones of the archive's most accurate and least-energy DyNNs."""
    try:
        chosen = {n: resolve_arch(engine.space, n) for n in ("a0", "a6")}
    except ConfigError:  # a space without them (the embedded tiny one): its own extremes
        chosen = {n: resolve_arch(engine.space, n) for n in ("min", "max")}
    if archive:
        best = max(archive, key=lambda e: e.dynn.top1)
        frugal = min(archive, key=lambda e: e.dynn.energy_mj)
        for label, e in (("found: most accurate", best), ("found: least energy", frugal)):
            if e.backbone not in chosen.values():
                chosen[label] = e.backbone
    return chosen


def energy_breakdown(engine: BilevelSearch, backbones: Mapping[str, Backbone]
                     ) -> list[dict[str, Any]]:
    """Per backbone: the DyNN of each stage (STAGES) and whether it matches the accuracy of
    the backbone alone."""
    items = list(backbones.items())
    bs = [b for _, b in items]
    static = engine.backbones(bs)
    with_exits = engine.ioes(bs, "exits")
    with_dvfs = engine.ioes(bs, "exits+dvfs")
    rows = []
    for (label, b), s, f_exits, f_dvfs in zip(items, static, with_exits, with_dvfs):
        alone = engine.static_dynn(s)
        stages: dict[str, Any] = {"backbone": {**alone.to_dict(), "matched": True}}
        row: dict[str, Any] = {"label": label, "backbone": b.to_dict(), "stages": stages}
        # exits at reference clocks are points of the exits + DVFS space too
        picks = {}
        for stage, front in (("exits", f_exits), ("exits+dvfs", [*f_exits, *f_dvfs])):
            if front:
                picks[stage], matched = pick_at_accuracy(front, alone.top1)
                stages[stage] = {**picks[stage].to_dict(), "matched": matched}
        if len(picks) == 2:
            row["dvfs_verdict"] = dvfs_verdict(engine, b, picks["exits"], picks["exits+dvfs"])
        rows.append(row)
    return rows


def dvfs_verdict(engine: BilevelSearch, b: Backbone, exits: DynnResult, with_dvfs: DynnResult
                 ) -> dict[str, Any]:
    """Does exits + DVFS spend less energy than exits alone at equal accuracy, and if not,
    why (with the numbers of the exits pick's plan over the platform's whole DVFS grid)."""
    saving = 100.0 * (1.0 - with_dvfs.energy_mj / exits.energy_mj)
    verdict: dict[str, Any] = {"beats_exits": bool(saving > 1e-6), "saving_pct": saving}
    if verdict["beats_exits"]:
        return verdict
    space, evaluator = engine.ev.ioe_problem(b)
    grid = evaluator.evaluate_grid(exits.plan, space.tables)
    best = int(np.argmin(grid.energy_mj))
    slowest = int(np.argmax(grid.latency_ms))
    verdict.update({
        "reference_mj": exits.energy_mj, "reference_ms": exits.latency_ms,
        "grid_points": int(grid.energy_mj.size),
        "least_energy": grid.result(best).to_dict(), "slowest": grid.result(slowest).to_dict()})
    c = getattr(getattr(evaluator, "hardware", None), "coefficients", None)  # a model's
    if c is not None:  # the share of the reference energy that grows with time
        verdict["time_power_w"] = c.static_w + c.host_w
        verdict["time_share_pct"] = (100.0 * (c.static_w + c.host_w) * exits.latency_ms
                                     / exits.energy_mj)
    if grid.energy_mj[best] < exits.energy_mj * (1 - 1e-9):
        verdict["reason"] = (
            f"missed: the plan's least-energy clock point ({grid.energy_mj[best]:.3f} mJ, "
            f"{100 * (1 - grid.energy_mj[best] / exits.energy_mj):.1f} % below the reference "
            f"clocks) is not on the exits + DVFS front")
    else:
        share = (f"; {verdict['time_share_pct']:.0f} % of its {exits.energy_mj:.3f} mJ is "
                 f"power that scales with time ({verdict['time_power_w']:.1f} W static + host)"
                 if "time_share_pct" in verdict else "")
        verdict["reason"] = (
            f"race to idle: none of the {grid.energy_mj.size} clock points spends less energy "
            f"than the reference clocks ({exits.energy_mj:.3f} mJ in {exits.latency_ms:.3f} "
            f"ms); the slowest point takes {grid.latency_ms[slowest]:.3f} ms for "
            f"{grid.energy_mj[slowest]:.3f} mJ{share}")
    return verdict
