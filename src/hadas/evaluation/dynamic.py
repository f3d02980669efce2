"""Objectives of a DyNN (backbone + exit plan + DVFS setting), all minimised:
top-1 error (%), expected latency (ms) and expected energy (mJ) per inference.

Expected values weight what a sample pays when it leaves at each exit (backbone up to the exit
plus every exit head passed) by the exit rates on the evaluation split, from the exit
simulator: no network inference. Costs come from a hardware model and carry its provenance.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from hadas.exits import ExitSimulator, Simulation
from hadas.errors import ConfigError
from hadas.hardware import DvfsSetting, SegmentCosts, expected_costs
from hadas.hardware.backend import CostModel, GridCostModel
from hadas.space import ExitPlan, Skeleton
from hadas.space.dynn import DvfsGrid, DynnResult

GRID_MEMO = 16  # exit placements whose grid costs are kept (16 x ~0.6 MB on AGX Xavier)


class DynnEvaluator:
    """Scores (exit plan, DVFS setting) pairs of one backbone."""

    def __init__(self, skeleton: Skeleton, simulator: ExitSimulator, hardware: CostModel):
        self.skeleton, self.simulator, self.hardware = skeleton, simulator, hardware
        # checked once, not per plan: a runtime protocol check inspects every attribute
        self._grid_model = hardware if isinstance(hardware, GridCostModel) else None
        self._grids: dict[tuple, SegmentCosts] = {}  # least recently used first

    def evaluate_grid(self, plan: ExitPlan, tables: Mapping[str, Sequence[int]]) -> DvfsGrid:
        """The plan at every combination of the clocks in `tables` (one vectorised costing;
        the segment costs of the last few exit placements are kept, as plans that differ
        only in their threshold share them)."""
        if self._grid_model is None:
            raise ConfigError("search.ioe.dvfs", f"exact DVFS costs whole clock grids, which "
                              f"{type(self.hardware).__name__} cannot: use evolve", ["evolve"])
        sim = self.simulator.simulate(plan)
        key = (plan.positions, tuple((d, tuple(v)) for d, v in tables.items()))
        costs = self._grids.pop(key, None) or self._grid_model.costs_grid(
            self.skeleton, plan, **{f"{d}_hz": list(v) for d, v in tables.items()})
        self._grids[key] = costs
        while len(self._grids) > GRID_MEMO:
            del self._grids[next(iter(self._grids))]
        latency, energy = expected_costs(costs, sim.exit_rates)
        return DvfsGrid(plan, *_exit_stats(sim),
                        {d: np.asarray(v) for d, v in costs.freq_hz.items()}, latency, energy,
                        dict(costs.provenance))

    def evaluate(self, plan: ExitPlan, dvfs_hz: Mapping[str, int]) -> DynnResult:
        sim = self.simulator.simulate(plan)
        platform = self.hardware.platform
        costs = self.hardware.segment_costs(self.skeleton, plan,
                                             DvfsSetting.create(platform, dvfs_hz))
        latency, energy = expected_costs(costs, sim.exit_rates)
        top1, rates, accuracy = _exit_stats(sim)
        return DynnResult(plan, {d: int(v) for d, v in dvfs_hz.items()}, top1, float(latency),
                          float(energy), rates, accuracy, dict(costs.provenance))


def _exit_stats(sim: Simulation) -> tuple[float, tuple[float, ...], tuple[float | None, ...]]:
    """Top-1, exit rates and per-exit accuracy (None where no sample leaves) as plain floats."""
    return (float(sim.top1), tuple(float(r) for r in sim.exit_rates),
            tuple(None if a != a else float(a) for a in sim.exit_accuracy))
