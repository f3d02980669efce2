"""DyNN objectives: exit simulator x hardware model, per sample leaving point, exactly."""
from __future__ import annotations

import numpy as np
import pytest

from hadas.evaluation.dynamic import DynnEvaluator
from hadas.space.dynn import DynnResult
from hadas.exits import ExitCache, ExitSimulator
from hadas.hardware import DvfsSetting, HardwareModel
from hadas.space import BackboneSpace, ExitPlan


def test_objectives_weight_each_leaving_point_by_its_rate(tiny_cfg):
    space = BackboneSpace(tiny_cfg.supernet)
    sk = space.skeleton(space.largest())
    positions = tuple(range(2, sk.n_blocks))
    rng = np.random.default_rng(0)
    n, k = 300, len(positions)
    labels = rng.integers(0, 10, n)
    pred = np.where(rng.random((k + 1, n)) < 0.8, labels, (labels + 1) % 10)
    cache = ExitCache(positions, labels, pred.astype(np.int16), pred == labels,
                      rng.random((k + 1, n), dtype=np.float32),
                      rng.random((k + 1, n), dtype=np.float32), None)
    hw = HardwareModel("agx-xavier", exit_channels=tiny_cfg.exits.exit_channels)
    dvfs = {"cpu": 1190400000, "gpu": 522750000, "emc": 1065600000}
    plan = ExitPlan((3, 8, 12), threshold=0.6)
    result = DynnEvaluator(sk, ExitSimulator(cache), hw).evaluate(plan, dvfs)

    sim = ExitSimulator(cache).simulate(plan, per_sample=True)
    costs = hw.segment_costs(sk, plan, DvfsSetting.create(hw.platform, dvfs))
    kinds = np.array(costs.kinds)
    per_sample = []
    for leave in sim.exit_index:  # backbone segments 0..leave + exit heads passed (all if final)
        backbone = costs.latency_ms[kinds == "backbone"][: leave + 1].sum()
        heads = costs.latency_ms[kinds == "exit"][: leave + 1].sum()
        per_sample.append(backbone + heads)
    assert result.latency_ms == pytest.approx(np.mean(per_sample))
    assert result.top1 == pytest.approx(sim.top1)
    assert result.objectives[0] == pytest.approx(100 - sim.top1)
    assert result.provenance == {"latency_ms": "modelled", "energy_mj": "modelled"}
    assert DynnResult.from_dict(result.to_dict()) == result
    # no exits: the static backbone at those clocks
    static = DynnEvaluator(sk, ExitSimulator(cache), hw).evaluate(ExitPlan(()), dvfs)
    assert static.latency_ms == pytest.approx(float(costs.total_latency_ms)
                                              - costs.latency_ms[kinds == "exit"].sum())
