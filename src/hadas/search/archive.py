"""The global archive of a search: every non-dominated feasible DyNN found so far.

Entries are the JSON form stored per generation in the run database and written to
result.json: {"backbone", "dynn", "generation"}. Objectives come from their declaration
(`hadas.space.dynn.OBJECTIVES`), never negated by hand.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hadas.config import ConstraintsConfig
from hadas.search.constraints import violation
from hadas.search.pymoo_seam import hypervolume
from hadas.search.selection import pareto_indices
from hadas.space.dynn import objective_matrix

Entry = dict[str, Any]


def archive_objectives(archive: Sequence[Entry]) -> np.ndarray:
    """[n, 3] minimised objectives of archive entries."""
    return objective_matrix(e["dynn"] for e in archive)


class Archive:
    """Merging under constraints, and the normalised hypervolume of an archive."""

    def __init__(self, constraints: ConstraintsConfig, reference_point: np.ndarray):
        self.constraints, self.reference = constraints, reference_point

    def merge(self, archive: Sequence[Entry], found: Sequence[Entry]) -> list[Entry]:
        """Non-dominated feasible entries of archive + found (first of equal DyNNs kept)."""
        seen, union = set(), []
        for e in [*archive, *found]:
            key = (str(e["backbone"]), str(e["dynn"]["exits"]), str(e["dynn"]["dvfs_hz"]))
            if key not in seen:
                seen.add(key)
                union.append(e)
        F = archive_objectives(union)
        ok = violation(F, self.constraints) == 0
        feasible, F = [e for e, keep in zip(union, ok) if keep], F[ok]
        return [feasible[i] for i in pareto_indices(F)]

    def hypervolume(self, archive: Sequence[Entry]) -> float:
        """Hypervolume of the archive with objectives divided by the reference point."""
        return hypervolume(archive_objectives(archive) / self.reference, np.ones(3))
