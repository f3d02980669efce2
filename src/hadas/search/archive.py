"""The global archive of a search: every non-dominated feasible DyNN found so far, as
`ArchiveEntry` records (their dict form is stored per generation in the run database and
written to result.json). Objectives come from their declaration
(`hadas.space.dynn.OBJECTIVES`), never negated by hand.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hadas.config import ConstraintsConfig
from hadas.search.constraints import violation
from hadas.search.pymoo_seam import hypervolume
from hadas.search.selection import pareto_indices
from hadas.space.dynn import ArchiveEntry, objective_matrix


class Archive:
    """Merging under constraints, and the normalised hypervolume of an archive."""

    def __init__(self, constraints: ConstraintsConfig, reference_point: np.ndarray):
        self.constraints, self.reference = constraints, reference_point

    def merge(self, archive: Sequence[ArchiveEntry], found: Sequence[ArchiveEntry]
              ) -> list[ArchiveEntry]:
        """Non-dominated feasible entries of archive + found (first of equal DyNNs kept)."""
        first: dict[object, ArchiveEntry] = {}
        for e in [*archive, *found]:
            first.setdefault(e.key, e)
        union = list(first.values())
        F = objective_matrix(union)
        ok = violation(F, self.constraints) == 0
        feasible, F = [e for e, keep in zip(union, ok) if keep], F[ok]
        return [feasible[i] for i in pareto_indices(F)]

    def hypervolume(self, archive: Sequence[ArchiveEntry]) -> float:
        """Hypervolume of the archive with objectives divided by the reference point."""
        return hypervolume(objective_matrix(archive) / self.reference, np.ones(3))
