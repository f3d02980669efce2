"""Exact DVFS in the inner engine: every exit plan costed over the whole grid, its
non-dominated clock points kept; and `evolve` still giving HADAS's results."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES, raises_config_error
from hadas.config import EngineConfig, IoeConfig, config_from_dict, load_config
from hadas.search.bilevel import BilevelSearch
from hadas.search.ioe import run_ioe
from hadas.search.pymoo_seam import hypervolume
from hadas.search.selection import (pareto_2d, rank_and_crowding, rank_and_crowding_sets,
                                    thin_by_crowding)
from hadas.storage import RunDatabase
from ioe_problem import real_problem
from synthetic import Synthetic

# written by the code before `search.ioe.dvfs` existed, with the HADAS budgets below
REFERENCE = json.loads((FIXTURES / "ioe_evolve_reference.json").read_text())
HADAS_OOE = EngineConfig(population=16, generations=4, survival_ratio=0.15, n_crossover=8,
                         n_mutation=8, mutation_prob=0.3, crossover_prob=0.8)
HADAS_IOE = IoeConfig(population=10, generations=5, survival_ratio=0.25, n_crossover=5,
                      n_mutation=5, mutation_prob=0.3, crossover_prob=0.8, dvfs="evolve")


def _ioe(tiny_cfg, **changes):
    return dataclasses.replace(HADAS_IOE, **changes)


@pytest.mark.parametrize("seed", range(6))
def test_sets_of_one_point_select_as_nsga2(seed):
    rng = np.random.default_rng(seed)
    F = rng.integers(0, 6, (30, 3)).astype(float)  # many ties and equal rows
    for k in (1, 7, 15, 29):
        assert rank_and_crowding_sets([f[None] for f in F], k).tolist() \
            == rank_and_crowding(F, k).tolist()


def test_a_set_ranks_by_its_best_point():
    sets = [np.array([[5.0, 5, 5]]), np.array([[9.0, 9, 9], [1.0, 1, 1]]),
            np.array([[6.0, 6, 6]])]
    assert rank_and_crowding_sets(sets, 1).tolist() == [1]
    assert rank_and_crowding_sets(sets, 2).tolist() == [1, 0]  # best rank first


@pytest.mark.parametrize("seed", range(4))
def test_pareto_2d_is_exactly_the_non_dominated_points(seed):
    rng = np.random.default_rng(seed)
    x, y = rng.integers(0, 20, 200).astype(float), rng.integers(0, 20, 200).astype(float)
    got = set(pareto_2d(x, y).tolist())
    for i in range(len(x)):
        dominated = np.any((x <= x[i]) & (y <= y[i]) & ((x < x[i]) | (y < y[i])))
        duplicate_before = np.any((x[:i] == x[i]) & (y[:i] == y[i]))
        assert (i in got) == (not dominated and not duplicate_before)


def test_thinning_keeps_the_extremes_and_the_cap():
    t = np.linspace(0, 1, 40)
    F = np.column_stack([t, 1 - t ** 0.5])
    keep = thin_by_crowding(F, 5)
    assert len(keep) == 5 and keep[0] == 0 and keep[-1] == 39
    assert thin_by_crowding(F[:3], 5).tolist() == [0, 1, 2]


def test_the_grid_is_the_pointwise_evaluation(tiny_cfg):
    space, evaluator = real_problem(tiny_cfg)
    plan, _ = space.sample(np.random.default_rng(1))
    grid = evaluator.evaluate_grid(plan, space.tables)
    assert grid.latency_ms.size == np.prod([len(t) for t in space.tables.values()])
    for i in np.random.default_rng(2).choice(grid.latency_ms.size, 12, replace=False):
        one = evaluator.evaluate(plan, {d: int(v[i]) for d, v in grid.clocks.items()})
        got = grid.result(int(i))
        assert dataclasses.replace(got, latency_ms=0, energy_mj=0) \
            == dataclasses.replace(one, latency_ms=0, energy_mj=0)
        assert (got.latency_ms, got.energy_mj) == pytest.approx((one.latency_ms, one.energy_mj),
                                                               rel=1e-12)


@pytest.mark.parametrize("which,enumerate_max", [("largest", 0), ("smallest", 10_000)])
def test_no_clock_point_dominates_a_dynn_of_an_exact_front(tiny_cfg, which, enumerate_max):
    space, evaluator = real_problem(tiny_cfg, which)
    cfg = _ioe(tiny_cfg, dvfs="exact", enumerate_max=enumerate_max)
    result = run_ioe(space.replace(dvfs_genes=False), evaluator, cfg,
                     np.random.default_rng(0))
    assert result.front and (result.generations == 0) == (enumerate_max > 0)
    plans = {json.dumps(d.plan.to_dict(), sort_keys=True) for d in result.evaluated}
    assert len(plans) == result.plans
    for d in result.front:
        grid = evaluator.evaluate_grid(d.plan, space.tables)
        better = ((grid.latency_ms <= d.latency_ms) & (grid.energy_mj <= d.energy_mj)
                  & ((grid.latency_ms < d.latency_ms) | (grid.energy_mj < d.energy_mj)))
        assert not better.any(), f"{d.plan} at {d.dvfs_hz} is dominated on its own grid"
        assert grid.top1 == d.top1


def test_enumerating_every_plan_beats_the_evolved_clock_genes(tiny_cfg):
    space, evaluator = real_problem(tiny_cfg, "smallest")
    assert space.n_plans == sum(1 for _ in space.plans()) == 150
    exact = run_ioe(space.replace(dvfs_genes=False), evaluator, _ioe(tiny_cfg, dvfs="exact"),
                    np.random.default_rng(0))
    evolve = run_ioe(space, evaluator, _ioe(tiny_cfg, dvfs="evolve"), np.random.default_rng(0))
    assert exact.plans == 150 and exact.generations == 0
    F = np.array([d.objectives for d in [*exact.front, *evolve.front]])
    ref = F.max(axis=0) * 1.1

    def hv(front):
        return hypervolume(np.array([d.objectives for d in front]), ref)
    assert hv(exact.front) > hv(evolve.front)


def _same_dynns(got: list[dict], stored: list[dict]) -> None:
    """The same DyNNs in the same order: plans, clocks and accuracy exactly, costs to rounding
    (the expected-cost sum may be ordered differently than when they were stored)."""
    costs = ("latency_ms", "energy_mj")
    assert [{k: v for k, v in d.items() if k not in costs} for d in got] \
        == [{k: v for k, v in d.items() if k not in costs} for d in stored]
    for g, s in zip(got, stored):
        assert [g[k] for k in costs] == pytest.approx([s[k] for k in costs], rel=1e-12)


@pytest.mark.parametrize("which", ["largest", "smallest"])
def test_evolve_with_the_hadas_budget_reproduces_the_stored_ioe(tiny_cfg, which):
    space, evaluator = real_problem(tiny_cfg, which)
    result = run_ioe(space, evaluator, _ioe(tiny_cfg, dvfs="evolve"),
                     np.random.default_rng([0, 11]))
    stored = REFERENCE[which]
    assert len(result.evaluated) == stored["n_evaluated"]
    _same_dynns([d.to_dict() for d in result.front], stored["front"])


def test_evolve_reproduces_the_stored_bilevel_search(tiny_cfg, tmp_path):
    cfg = dataclasses.replace(tiny_cfg, search=dataclasses.replace(
        tiny_cfg.search, ooe=HADAS_OOE, ioe=HADAS_IOE))
    with RunDatabase(tmp_path) as db:
        db.open_run("hadas", cfg.fingerprint, cfg.seed, {})
        result = BilevelSearch(cfg, Synthetic(), db, "hadas", say=lambda s: None).run_hadas()
    stored = REFERENCE["synthetic_bilevel"]
    archive = json.loads(json.dumps([e.to_dict() for e in result.archive]))
    assert [{**e, "dynn": None} for e in archive] == [{**e, "dynn": None} for e in stored["archive"]]
    _same_dynns([e["dynn"] for e in archive], [e["dynn"] for e in stored["archive"]])
    assert result.hypervolume == pytest.approx(stored["hypervolume"], rel=1e-12)


def test_ioe_dvfs_is_validated_and_exact_by_default():
    base = load_config(Path(__file__).resolve().parents[1] / "configs" / "tiny-digits.yaml")
    data = base.to_dict()
    assert config_from_dict({**data, "search": {}}).search.ioe.dvfs == "exact"
    data["search"]["ioe"]["dvfs"] = "grid"
    with raises_config_error("search.ioe.dvfs", "exact", "evolve"):
        config_from_dict(data)
