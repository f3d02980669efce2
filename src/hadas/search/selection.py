"""NSGA-II selection: non-dominated rank, then crowding distance, deterministic ties."""
from __future__ import annotations

from collections.abc import Sequence

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


def rank_and_crowding_sets(points: Sequence[np.ndarray], k: int) -> np.ndarray:
    """The k best sets of points (one set per genome, e.g. an exit plan at its kept clock
    points), NSGA-II style on the union: a set's rank is the best non-dominated rank any of its
    points reaches, whole ranks go first, and the last one is cut by the largest crowding
    distance of a set's points on that rank (ties keep the lower index). With one point per set
    this is `rank_and_crowding`."""
    owner = np.repeat(np.arange(len(points)), [len(p) for p in points])
    union = np.concatenate([np.asarray(p, dtype=float).reshape(-1, np.shape(p)[-1])
                            for p in points]) if len(points) else np.empty((0, 0))
    rank = nondominated_rank(union)
    best = np.full(len(points), len(union) + 1, dtype=np.int64)
    np.minimum.at(best, owner, rank)
    chosen: list[int] = []
    for r in np.unique(best):
        members = np.flatnonzero(best == r)
        if len(chosen) + len(members) <= k:
            chosen.extend(members.tolist())
            continue
        on_rank = np.flatnonzero(rank == r)
        distance = np.full(len(points), -np.inf)
        np.maximum.at(distance, owner[on_rank], crowding(union[on_rank]))
        order = np.lexsort((members, -distance[members]))
        chosen.extend(members[order[: k - len(chosen)]].tolist())
        break
    return np.array(chosen, dtype=np.int64)


def pareto_2d(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the points not dominated in (x, y), both minimised, by increasing x (equal
    points: the first one)."""
    order = np.lexsort((np.arange(len(x)), y, x))
    ys = np.asarray(y)[order]
    best_before = np.minimum.accumulate(np.concatenate([[np.inf], ys[:-1]]))
    return order[ys < best_before]


def thin_by_crowding(F: np.ndarray, cap: int) -> np.ndarray:
    """Indices of at most `cap` rows of one front, the least crowded kept (the extremes first,
    as their distance is infinite), in their original order."""
    if len(F) <= cap:
        return np.arange(len(F))
    keep = np.lexsort((np.arange(len(F)), -crowding(F)))[:cap]
    return np.sort(keep)
