"""Synthetic evaluators: the real search engine on cheap, deterministic stand-ins for
accuracy and cost (for tests of the driver, the run directory and the report)."""
from __future__ import annotations

import itertools

import numpy as np

from hadas.space.dynn import DvfsGrid, DynnResult
from hadas.space import Backbone, ExitDvfsSpace, ExitPlan

TABLES = {"cpu": (1, 2), "gpu": (10, 20, 30), "emc": (100, 200)}


class Synthetic:
    """Cheap, deterministic stand-ins for accuracy and cost, with enough structure to trade."""

    fingerprints = {"backbone": "backbone@synthetic", "ioe": "ioe@synthetic"}
    reference_dvfs = {"cpu": 2, "gpu": 30, "emc": 200}

    def __init__(self, fail_after: int | None = None):
        self.calls = {"backbone": 0, "ioe": 0}
        self.fail_after = fail_after

    def _tick(self, kind: str) -> None:
        self.calls[kind] += 1
        if self.fail_after is not None and sum(self.calls.values()) > self.fail_after:
            raise KeyboardInterrupt  # a crash in the middle of the search

    def backbone(self, b: Backbone) -> dict:
        self._tick("backbone")
        size = sum(b.depth) + sum(b.width) / 100 + b.resolution / 8
        return {"top1": 100 - 40 / size, "latency_ms": size, "energy_mj": 2 * size}

    def ioe_problem(self, b: Backbone):
        self._tick("ioe")
        size = sum(b.depth) + sum(b.width) / 100 + b.resolution / 8
        space = ExitDvfsSpace(range(2, sum(b.depth)), (0.5, 0.9), TABLES)

        class Evaluator:
            def evaluate(self, plan: ExitPlan, dvfs: dict) -> DynnResult:
                k = len(plan.positions)
                latency = size * (1 - 0.04 * k * (1 - plan.threshold)) * 30 / dvfs["gpu"]
                energy = latency * dvfs["gpu"] / 10 + dvfs["cpu"]
                top1 = 100 - 40 / size - 2 * k * (1 - plan.threshold)
                rates = [(1 - plan.threshold) / (k + 1)] * k
                rates.append(1 - sum(rates))
                return DynnResult(plan, dict(dvfs), top1, latency, energy, tuple(rates),
                                  (top1,) * (k + 1),
                                  {"latency_ms": "synthetic", "energy_mj": "synthetic"})

            def evaluate_grid(self, plan: ExitPlan, tables: dict) -> DvfsGrid:
                return grid_of(self.evaluate, plan, tables)
        return space, Evaluator()

    def reference_point(self) -> np.ndarray:
        return np.array([100.0, 200.0, 400.0])


def grid_of(evaluate, plan: ExitPlan, tables: dict) -> DvfsGrid:
    """`evaluate(plan, dvfs)` at every combination of the clocks in `tables`, as a DvfsGrid."""
    points = [dict(zip(tables, c)) for c in itertools.product(*tables.values())]
    rs = [evaluate(plan, p) for p in points]
    return DvfsGrid(plan, rs[0].top1, rs[0].exit_rates, rs[0].exit_accuracy,
                    {d: np.array([p[d] for p in points]) for d in tables},
                    np.array([r.latency_ms for r in rs]), np.array([r.energy_mj for r in rs]),
                    rs[0].provenance)
