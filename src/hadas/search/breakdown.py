"""The comparison HADAS motivates with: a backbone's energy alone (no exits, reference clocks),
with early exits (reference clocks), and with early exits + DVFS, at equal accuracy.

For each backbone the two inner fronts come from the IOE (inner modes `exits` and
`exits+dvfs`), through the run database like every other evaluation. From each front we take
the least-energy DyNN at least as accurate as the backbone alone; when none is, the most
accurate one, marked `matched: false` (never reported as a gain at equal accuracy). The
exits + DVFS stage picks from both fronts: exits at reference clocks are one of its points.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hadas.evaluation.dynamic import DynnResult
from hadas.search.bilevel import BilevelSearch
from hadas.errors import ConfigError
from hadas.space import Backbone, resolve_arch

STAGES = ("backbone", "exits", "exits+dvfs")


def pick_at_accuracy(front: Sequence[DynnResult], top1: float) -> tuple[DynnResult, bool]:
    """The least-energy DyNN with top-1 >= `top1` (True), else the most accurate one (False)."""
    matched = [d for d in front if d.top1 >= top1]
    if matched:
        return min(matched, key=lambda d: d.energy_mj), True
    return max(front, key=lambda d: (d.top1, -d.energy_mj)), False


def comparison_backbones(engine: BilevelSearch, archive: Sequence[dict[str, Any]]
                         ) -> dict[str, Backbone]:
    """Smallest and largest reference (a0 and a6 where the space has them, else min and max),
    and the backbones of the archive's most accurate and least-energy DyNNs."""
    try:
        chosen = {n: resolve_arch(engine.space, n) for n in ("a0", "a6")}
    except ConfigError:  # a space without them (the embedded tiny one): its own extremes
        chosen = {n: resolve_arch(engine.space, n) for n in ("min", "max")}
    if archive:
        best = max(archive, key=lambda e: e["dynn"]["top1"])
        frugal = min(archive, key=lambda e: e["dynn"]["energy_mj"])
        for label, e in (("found: most accurate", best), ("found: least energy", frugal)):
            b = Backbone.from_dict(e["backbone"])
            if b not in chosen.values():
                chosen[label] = b
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
        row = {"label": label, "backbone": b.to_dict(),
               "stages": {"backbone": {**alone.to_dict(), "matched": True}}}
        # exits at reference clocks are points of the exits + DVFS space too
        for stage, front in (("exits", f_exits), ("exits+dvfs", [*f_exits, *f_dvfs])):
            if front:
                d, matched = pick_at_accuracy(front, alone.top1)
                row["stages"][stage] = {**d.to_dict(), "matched": matched}
        rows.append(row)
    return rows
