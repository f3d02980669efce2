"""Search building blocks: the exit/DVFS genome, NSGA-II selection, breeding, the IOE."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hadas.config import EngineConfig, IoeConfig
from hadas.space.dynn import DynnResult
from hadas.search import nondominated_rank, pareto_indices, rank_and_crowding, run_ioe
from hadas.search.evolution import breed, unique
from hadas.space import BackboneSpace, ExitDvfsSpace, ExitPlan
from hadas.space.genome import GenomeOperators
from synthetic import grid_of

TABLES = {"cpu": (1, 2, 3, 4), "gpu": (10, 20, 30), "emc": (100, 200)}


def _space(**kw) -> ExitDvfsSpace:
    return ExitDvfsSpace(range(5, 17), (0.5, 0.7, 0.9), TABLES, **kw)


def _dominates(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(a <= b) and np.any(a < b))


# --- the exit/DVFS genome -------------------------------------------------------------------------

@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), lo=st.integers(0, 4), hi=st.integers(4, 11))
def test_operators_keep_the_exit_count_in_bounds_and_decode(seed, lo, hi):
    space = _space(min_exits=lo, max_exits=hi)
    rng = np.random.default_rng(seed)
    a, b = space.sample_genome(rng), space.sample_genome(rng)
    for g in (a, b, space.mutate(a, rng, 0.5), space.crossover(a, b, rng, 0.5)):
        assert lo <= g[:12].sum() <= hi
        plan, dvfs = space.decode(g)
        assert np.array_equal(space.encode(plan, dvfs), g)
        assert all(dvfs[d] in TABLES[d] for d in TABLES)


def test_each_dvfs_domain_mutates_on_its_own():
    """The original mutated cpu, gpu and emc together with one draw; here each has its own."""
    space, rng = _space(), np.random.default_rng(0)
    g = space.sample_genome(rng)
    changed = np.array([space.mutate(g, rng, 0.3)[-3:] != g[-3:] for _ in range(2000)])
    rates = changed.mean(axis=0)
    assert np.allclose(rates, 0.3, atol=0.04)
    both = (changed[:, 0] & changed[:, 1]).mean()
    assert both == pytest.approx(0.09, abs=0.03)  # independent: 0.3 x 0.3


def test_mutation_can_add_exits():
    space, rng = _space(min_exits=1), np.random.default_rng(1)
    g = space.encode(ExitPlan((5,), threshold=0.5), {"cpu": 1, "gpu": 10, "emc": 100})
    counts = {int(space.mutate(g, rng, 0.3)[:12].sum()) for _ in range(200)}
    assert max(counts) > 1 and min(counts) >= 1


# --- selection -----------------------------------------------------------------------------------

@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 30), k=st.integers(1, 30))
def test_rank_and_crowding_keeps_whole_better_fronts(seed, n, k):
    F = np.random.default_rng(seed).integers(0, 6, (n, 3)).astype(float)
    chosen = rank_and_crowding(F, k)
    assert len(chosen) == min(k, n) and len(set(chosen.tolist())) == len(chosen)
    rank = nondominated_rank(F)
    worst_kept = rank[chosen].max()
    assert np.all(np.isin(np.flatnonzero(rank < worst_kept), chosen))
    assert np.array_equal(chosen, rank_and_crowding(F, k))  # deterministic


def test_pareto_indices_are_exactly_the_non_dominated_rows():
    F = np.random.default_rng(3).random((40, 3))
    expected = [i for i in range(40) if not any(_dominates(F[j], F[i]) for j in range(40))]
    assert pareto_indices(F).tolist() == expected


def test_both_spaces_breed_through_the_one_protocol(tiny_cfg):
    rng = np.random.default_rng(0)
    for space in (BackboneSpace(tiny_cfg.supernet), _space()):
        assert isinstance(space, GenomeOperators)
        parents = [space.sample_genome(rng) for _ in range(3)]
        children = breed(parents, space, EngineConfig(n_crossover=4, n_mutation=4), rng)
        assert len(children) == 8 and all(len(c) == len(parents[0]) for c in children)
        space.decode(children[0])  # every child is a valid genome of its space


def test_breeding_makes_the_configured_number_of_children():
    cfg = EngineConfig(population=10, n_crossover=5, n_mutation=5)
    rng = np.random.default_rng(0)
    space = _space()
    parents = [space.sample_genome(rng) for _ in range(3)]
    assert len(breed(parents, space, cfg, rng)) == 10
    assert len(unique([parents[0], parents[0], parents[1]])) == 2


# --- the IOE on a synthetic objective ------------------------------------------------------------

def _synthetic(plan: ExitPlan, dvfs: dict[str, int]) -> DynnResult:
    """More exits: less latency, less accuracy; higher clocks: less latency, more energy."""
    k = len(plan.positions)
    speed = dvfs["gpu"] * dvfs["emc"]
    latency = (20.0 - k + 5 * plan.threshold) / speed * 1000
    energy = latency * (dvfs["gpu"] / 10) ** 2 + dvfs["cpu"]
    top1 = 90.0 - k * (1 - plan.threshold)
    return DynnResult(plan, dict(dvfs), top1, latency, energy, (), (), {})


class _Scorer:
    """The synthetic objective as an IOE scorer, recording every call."""

    def __init__(self):
        self.calls = []

    def evaluate(self, plan, dvfs):
        self.calls.append((plan, tuple(sorted(dvfs.items()))))
        return _synthetic(plan, dvfs)

    def evaluate_grid(self, plan, tables):
        self.calls.append((plan, "grid"))
        return grid_of(_synthetic, plan, tables)


HADAS_IOE = IoeConfig(population=10, generations=5, survival_ratio=0.25, n_crossover=5,
                      n_mutation=5, dvfs="evolve")


@pytest.mark.parametrize("dvfs", ["evolve", "exact"])
def test_ioe_returns_the_non_dominated_set_of_what_it_evaluated_and_is_reproducible(dvfs):
    cfg = dataclasses.replace(HADAS_IOE, dvfs=dvfs, enumerate_max=0)
    space = _space(dvfs_genes=dvfs == "evolve")
    scorer = _Scorer()
    result = run_ioe(space, scorer, cfg, np.random.default_rng(7))
    assert len(scorer.calls) == len(set(scorer.calls)) == result.plans  # nothing scored twice
    assert result.plans <= cfg.population + (cfg.generations - 1) * 10
    assert result.generations == cfg.generations
    F = np.array([r.objectives for r in result.evaluated])
    front = np.array([r.objectives for r in result.front])
    for f in front:
        assert not any(_dominates(g, f) for g in F)
    for i, f in enumerate(F):
        if not any(_dominates(g, f) for g in F):
            assert any(np.array_equal(f, g) for g in front)
    again = run_ioe(space, _Scorer(), cfg, np.random.default_rng(7))
    assert [r.to_dict() for r in again.front] == [r.to_dict() for r in result.front]


def test_the_driver_counts_each_phase_once(tiny_cfg, tmp_path):
    """A backbone task's one phase has the task's name: its seconds are counted once."""
    import time as time_module

    from hadas.executors import SerialExecutor
    from hadas.search.driver import EvaluationDriver
    from hadas.storage import RunDatabase

    class SlowEvaluators:
        def backbone(self, b):
            time_module.sleep(0.05)
            return {"top1": 50.0}

    backbone = BackboneSpace(tiny_cfg.supernet).largest().to_dict()
    with RunDatabase(tmp_path / "run") as db:
        db.open_run("hadas", tiny_cfg.fingerprint, tiny_cfg.seed, {})
        driver = EvaluationDriver(tiny_cfg, {"backbone": "backbone@test"}, db,
                                  SerialExecutor(SlowEvaluators()))
        t0 = time_module.perf_counter()
        driver.evaluate("backbone", [{"backbone": backbone}])
        wall = time_module.perf_counter() - t0
    assert 0.05 <= driver.stats.seconds["backbone"] <= wall
    assert driver.spent["backbone_s"] == pytest.approx(driver.stats.seconds["backbone"])
