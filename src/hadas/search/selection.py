"""NSGA-II selection: non-dominated rank, then crowding distance, deterministic ties."""
from __future__ import annotations

import numpy as np

from hadas.search.pymoo_seam import crowding, fronts


def pareto_indices(F: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows of F (sorted)."""
    f = fronts(F)
    return np.sort(f[0]) if f else np.array([], dtype=np.int64)


def nondominated_rank(F: np.ndarray) -> np.ndarray:
    """Front number of every row (0 = non-dominated)."""
    rank = np.empty(len(F), dtype=np.int64)
    for r, idx in enumerate(fronts(F)):
        rank[idx] = r
    return rank


def rank_and_crowding(F: np.ndarray, k: int) -> np.ndarray:
    """The k best rows: whole fronts first, the last front cut by descending crowding distance;
    equal distances keep the lower index, so the result depends on F only."""
    chosen: list[int] = []
    for front in fronts(F):
        front = np.sort(front)
        if len(chosen) + len(front) <= k:
            chosen.extend(front.tolist())
            continue
        distance = crowding(np.asarray(F)[front])
        order = np.lexsort((front, -distance))  # by distance desc, then index
        chosen.extend(front[order[: k - len(chosen)]].tolist())
        break
    return np.array(chosen, dtype=np.int64)
