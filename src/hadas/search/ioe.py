"""The inner engine (IOE): for one backbone, search its exit plan and DVFS setting.

HADAS's scheme, elitist: a random population; each generation keeps ceil(population x
survival_ratio) individuals from parents and new ones by NSGA-II rank and crowding, and breeds
n_crossover + n_mutation children from them. Every evaluation is the exit simulator plus the
hardware model (no inference), and the result is the non-dominated set of everything evaluated.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from hadas.config import ConstraintsConfig, EngineConfig
from hadas.search.constraints import penalised, violation
from hadas.evaluation.dynamic import DynnResult
from hadas.search.evolution import breed, unique
from hadas.search.selection import pareto_indices, rank_and_crowding
from hadas.space import ExitDvfsSpace, ExitPlan


@dataclass(frozen=True)
class IoeResult:
    front: list[DynnResult]          # non-dominated DyNNs of this backbone
    evaluated: list[DynnResult]      # every distinct DyNN scored, in order
    generations: int


def run_ioe(space: ExitDvfsSpace, evaluate: Callable[[ExitPlan, Mapping[str, int]], DynnResult],
            cfg: EngineConfig, rng: np.random.Generator,
            limits: ConstraintsConfig = ConstraintsConfig()) -> IoeResult:
    """Run the IOE; `evaluate` scores one (plan, dvfs). The front holds the feasible
    non-dominated DyNNs (empty when none meets the constraints)."""
    scored: dict[tuple[int, ...], DynnResult] = {}

    def score(genomes: list[np.ndarray]) -> np.ndarray:
        for g in genomes:
            key = tuple(int(x) for x in g)
            if key not in scored:
                scored[key] = evaluate(*space.decode(g))
        F = np.array([scored[tuple(int(x) for x in g)].objectives for g in genomes])
        return penalised(F, limits)

    n_keep = max(1, math.ceil(cfg.population * cfg.survival_ratio))
    population = unique([space.sample(rng) for _ in range(cfg.population)])
    parents: list[np.ndarray] = []
    for generation in range(cfg.generations):
        pool = unique([*parents, *population])
        keep = rank_and_crowding(score(pool), n_keep)
        parents = [pool[i] for i in keep]
        if generation < cfg.generations - 1:
            population = unique(breed(parents, space, cfg, rng))
    evaluated = list(scored.values())
    F = np.array([r.objectives for r in evaluated])
    feasible = [i for i in pareto_indices(penalised(F, limits)) if violation(F[i], limits)[0] == 0]
    return IoeResult([evaluated[i] for i in feasible], evaluated, cfg.generations)
