"""`ExitDvfsSpace`: the inner (IOE) genome of one backbone: exit positions, threshold, DVFS.

Genome layout (integers): `[one bit per candidate exit position | threshold index |
one index per DVFS domain]`; without clock genes (`dvfs_genes=False`, the IOE's exact DVFS,
which costs a plan over all of `tables` at once) the DVFS part is absent. Unlike the original code, every DVFS domain mutates on its own,
mutation can add exits as well as remove them, and a repair keeps the exit count within
[min_exits, max_exits] (HADAS: 1 .. N_b - 6, i.e. all candidates but one).
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from hadas.errors import ConfigError
from hadas.space.genome import GenomeLike
from hadas.space.exits import ExitPlan


class ExitDvfsSpace:
    def __init__(self, positions: Sequence[int], thresholds: Sequence[float],
                 dvfs: Mapping[str, Sequence[int]], policy: str = "max_softmax",
                 min_exits: int = 1, max_exits: int | None = None, dvfs_genes: bool = True):
        self.positions = tuple(positions)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.domains = tuple(dvfs)
        self.tables = {d: tuple(int(f) for f in dvfs[d]) for d in self.domains}
        self.policy = policy
        self.dvfs_genes = dvfs_genes
        m = len(self.positions)
        self.max_exits = max(0, m - 1) if max_exits is None else min(max_exits, m)
        self.min_exits = min(min_exits, self.max_exits)
        if not self.thresholds:
            raise ConfigError("search.thresholds", "needs at least one threshold")
        for d, table in self.tables.items():
            if not table:
                raise ConfigError(f"dvfs.{d}", "empty frequency table")
        clock_genes = [len(self.tables[d]) for d in self.domains] if dvfs_genes else []
        self.n_choices = np.array([2] * m + [len(self.thresholds)] + clock_genes, dtype=np.int64)

    def replace(self, **changes: Any) -> "ExitDvfsSpace":
        """The same space with some constructor arguments changed."""
        args = dict(positions=self.positions, thresholds=self.thresholds, dvfs=self.tables,
                    policy=self.policy, min_exits=self.min_exits, max_exits=self.max_exits,
                    dvfs_genes=self.dvfs_genes)
        return ExitDvfsSpace(**{**args, **changes})

    @property
    def n_genes(self) -> int:
        return len(self.n_choices)

    @property
    def size(self) -> int:
        """Number of distinct genomes (exit subsets x thresholds x DVFS points), no repair."""
        return int(np.prod(self.n_choices.astype(object)))

    @property
    def n_plans(self) -> int:
        """Number of distinct (exit subset within the count bounds, threshold) pairs."""
        m = len(self.positions)
        subsets = sum(math.comb(m, k) for k in range(self.min_exits, self.max_exits + 1))
        return subsets * len(self.thresholds)

    def plans(self) -> Iterator[np.ndarray]:
        """Every exit-plan genome (no clock genes), fewest exits first."""
        m = len(self.positions)
        for k in range(self.min_exits, self.max_exits + 1):
            for chosen in itertools.combinations(range(m), k):
                for t in range(len(self.thresholds)):
                    g = np.zeros(self.n_genes, dtype=np.int64)
                    g[list(chosen)] = 1
                    g[m] = t
                    yield g

    def decode(self, genome: GenomeLike) -> tuple[ExitPlan, dict[str, int]]:
        """(plan, clocks); the clocks are empty without clock genes."""
        g = np.asarray(genome, dtype=np.int64)
        m = len(self.positions)
        chosen = tuple(p for p, bit in zip(self.positions, g[:m]) if bit)
        plan = ExitPlan(chosen, self.policy, self.thresholds[g[m]])
        dvfs = ({d: self.tables[d][g[m + 1 + i]] for i, d in enumerate(self.domains)}
                if self.dvfs_genes else {})
        return plan, dvfs

    def encode(self, plan: ExitPlan, dvfs: Mapping[str, int]) -> np.ndarray:
        bits = [int(p in plan.positions) for p in self.positions]
        t = plan.threshold if isinstance(plan.threshold, float) else plan.threshold[0]
        clocks = ([self.tables[d].index(int(dvfs[d])) for d in self.domains]
                  if self.dvfs_genes else [])
        return np.array([*bits, self.thresholds.index(t), *clocks], dtype=np.int64)

    # -- operators (explicit seeded generator everywhere) ---------------------------------------
    def repair(self, genome: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Switch random exits on or off until their count is within [min_exits, max_exits]."""
        g = np.array(genome, dtype=np.int64)
        m = len(self.positions)
        bits = g[:m]
        on, off = np.flatnonzero(bits), np.flatnonzero(bits == 0)
        if len(on) > self.max_exits:
            bits[rng.choice(on, len(on) - self.max_exits, replace=False)] = 0
        elif len(on) < self.min_exits:
            bits[rng.choice(off, self.min_exits - len(on), replace=False)] = 1
        return g

    def sample(self, rng: np.random.Generator) -> tuple[ExitPlan, dict[str, int]]:
        """A random (plan, clocks): `decode` of `sample_genome`."""
        return self.decode(self.sample_genome(rng))

    def sample_genome(self, rng: np.random.Generator) -> np.ndarray:
        """Exit count uniform in [min, max], positions uniform; threshold and clocks uniform."""
        m = len(self.positions)
        g = np.zeros(self.n_genes, dtype=np.int64)
        k = int(rng.integers(self.min_exits, self.max_exits + 1))
        g[rng.choice(m, k, replace=False)] = 1
        g[m:] = rng.integers(0, self.n_choices[m:])
        return g

    def mutate(self, genome: GenomeLike, rng: np.random.Generator, prob: float) -> np.ndarray:
        """Each gene, on its own, changes to a different value with probability `prob`."""
        g = np.array(genome, dtype=np.int64)
        n = self.n_choices
        hit = (rng.random(self.n_genes) < prob) & (n > 1)
        g[hit] = (g[hit] + rng.integers(1, np.maximum(n, 2))[hit]) % n[hit]
        return self.repair(g, rng)

    def crossover(self, a: GenomeLike, b: GenomeLike, rng: np.random.Generator,
                  p: float = 0.8) -> np.ndarray:
        """Uniform: each gene from `a` with probability p, else from `b`; then repair."""
        ga, gb = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        return self.repair(np.where(rng.random(self.n_genes) < p, ga, gb), rng)
