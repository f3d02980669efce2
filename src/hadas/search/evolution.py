"""Breeding as in HADAS: n_crossover uniform-crossover children of random parent pairs and
n_mutation mutants of random parents, every draw from one seeded generator."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hadas.config import EngineConfig
from hadas.space.genome import GenomeOperators


def breed(parents: Sequence[np.ndarray], ops: GenomeOperators, cfg: EngineConfig,
          rng: np.random.Generator) -> list[np.ndarray]:
    """The next generation's children of `parents`."""
    n = len(parents)
    children = []
    for _ in range(cfg.n_crossover):
        a, b = rng.choice(n, 2, replace=n < 2)
        children.append(ops.crossover(parents[int(a)], parents[int(b)], rng,
                                      cfg.crossover_prob))
    for _ in range(cfg.n_mutation):
        children.append(ops.mutate(parents[int(rng.integers(n))], rng, cfg.mutation_prob))
    return children


def unique(genomes: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Genomes without repeats, first occurrence kept (order preserved)."""
    seen, out = set(), []
    for g in genomes:
        key = tuple(int(x) for x in g)
        if key not in seen:
            seen.add(key)
            out.append(np.asarray(g, dtype=np.int64))
    return out
