"""The inner engine (IOE): for one backbone, search its exit plan and DVFS setting.

HADAS's scheme, elitist: a random population; each generation keeps ceil(population x
survival_ratio) individuals from parents and new ones by NSGA-II rank and crowding, and breeds
n_crossover + n_mutation children from them. Every evaluation is the exit simulator plus the
hardware model (no inference), and the result is the non-dominated set of everything evaluated.

How clocks are chosen (`IoeConfig.dvfs`):
- `evolve` (HADAS): one DVFS gene per domain; an individual is one DyNN.
- `exact`: an individual is an exit plan; it is costed over the whole DVFS grid at once and
  stands for its non-dominated (latency, energy) clock points, thinned by crowding to
  `max_clock_points` (accuracy does not depend on the clocks, so no other clock point of that
  plan can dominate one of them). Selection ranks plans by their best point in the union
  (`rank_and_crowding_sets`). When the backbone has at most `enumerate_max` plans, every plan
  is scored and nothing evolves.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from hadas.config import ConstraintsConfig, IoeConfig
from hadas.space.dynn import DvfsGrid, DynnResult
from hadas.search.constraints import penalised, violation
from hadas.search.evolution import breed, unique
from hadas.search.selection import (pareto_2d, pareto_indices, rank_and_crowding_sets,
                                    thin_by_crowding)
from hadas.space import ExitDvfsSpace, ExitPlan


class PlanScorer(Protocol):
    def evaluate(self, plan: ExitPlan, dvfs_hz: Mapping[str, int]) -> DynnResult: ...
    def evaluate_grid(self, plan: ExitPlan, tables: Mapping[str, Sequence[int]]) -> DvfsGrid: ...


@dataclass(frozen=True)
class IoeResult:
    front: list[DynnResult]          # non-dominated DyNNs of this backbone
    evaluated: list[DynnResult]      # every distinct DyNN scored, in order
    generations: int                 # 0 when every exit plan was enumerated
    plans: int                       # genomes scored (exit plans, with clocks under `evolve`)


def pareto_clock_points(grid: DvfsGrid, cap: int) -> list[DynnResult]:
    """The plan's DyNNs at its non-dominated (latency, energy) clock points, at most `cap`."""
    front = pareto_2d(grid.latency_ms, grid.energy_mj)
    keep = thin_by_crowding(np.column_stack([grid.latency_ms[front], grid.energy_mj[front]]), cap)
    return [grid.result(int(i)) for i in front[keep]]


def genome_scorer(space: ExitDvfsSpace, evaluator: PlanScorer, cfg: IoeConfig
                  ) -> Callable[[np.ndarray], list[DynnResult]]:
    """The DyNNs one genome of `space` stands for."""
    if space.dvfs_genes:
        return lambda g: [evaluator.evaluate(*space.decode(g))]
    return lambda g: pareto_clock_points(evaluator.evaluate_grid(space.decode(g)[0],
                                                                 space.tables),
                                         cfg.max_clock_points)


def run_ioe(space: ExitDvfsSpace, evaluator: PlanScorer, cfg: IoeConfig,
            rng: np.random.Generator, limits: ConstraintsConfig = ConstraintsConfig()
            ) -> IoeResult:
    """Run the IOE over `space` (its `dvfs_genes` says evolve or exact). The front holds the
    feasible non-dominated DyNNs (empty when none meets the constraints)."""
    dynns_of = genome_scorer(space, evaluator, cfg)
    scored: dict[tuple[int, ...], list[DynnResult]] = {}

    def score(genomes: list[np.ndarray]) -> list[np.ndarray]:
        points = []
        for g in genomes:
            key = tuple(int(x) for x in g)
            if key not in scored:
                scored[key] = dynns_of(g)
            points.append(penalised(np.array([d.objectives for d in scored[key]]), limits))
        return points

    generations = 0
    if not space.dvfs_genes and space.n_plans <= cfg.enumerate_max:
        score(list(space.plans()))
    else:
        n_keep = cfg.survivors()
        population = unique([space.sample_genome(rng) for _ in range(cfg.population)])
        parents: list[np.ndarray] = []
        for generations in range(1, cfg.generations + 1):
            pool = unique([*parents, *population])
            keep = rank_and_crowding_sets(score(pool), n_keep)
            parents = [pool[i] for i in keep]
            if generations < cfg.generations:
                population = unique(breed(parents, space, cfg, rng))
    evaluated = [d for dynns in scored.values() for d in dynns]
    F = np.array([r.objectives for r in evaluated])
    feasible = [i for i in pareto_indices(penalised(F, limits)) if violation(F[i], limits)[0] == 0]
    return IoeResult([evaluated[i] for i in feasible], evaluated, generations, len(scored))
