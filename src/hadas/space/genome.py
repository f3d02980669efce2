"""What a search engine asks of a search space: integer genomes and their seeded operators.
Both spaces (`BackboneSpace`, `ExitDvfsSpace`) satisfy `GenomeOperators` (checked by mypy and
by a test), so one breeding routine serves the outer and the inner engine."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

GenomeLike = Sequence[int] | np.ndarray  # an integer per gene: a candidate index


@runtime_checkable
class GenomeOperators(Protocol):
    def sample_genome(self, rng: np.random.Generator) -> np.ndarray: ...
    def mutate(self, genome: GenomeLike, rng: np.random.Generator, prob: float) -> np.ndarray: ...
    def crossover(self, a: GenomeLike, b: GenomeLike, rng: np.random.Generator,
                  p: float = 0.8) -> np.ndarray: ...
