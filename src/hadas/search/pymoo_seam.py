"""The one place that imports pymoo (its import paths have moved between versions)."""
from __future__ import annotations

import numpy as np

try:
    from pymoo.indicators.hv import HV
    from pymoo.operators.survival.rank_and_crowding.metrics import calc_crowding_distance
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting
except ImportError as exc:  # pragma: no cover - depends on the installed pymoo
    raise ImportError(f"hadas.search needs pymoo >= 0.6 ({exc}): pip install 'pymoo>=0.6'") from exc


def fronts(F: np.ndarray) -> list[np.ndarray]:
    """Indices of each non-dominated front of the (minimised) objectives F, best first."""
    if len(F) == 0:
        return []
    return [np.asarray(f) for f in NonDominatedSorting().do(np.asarray(F, dtype=float))]


def crowding(F: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of the points of one front (inf at the extremes)."""
    return calc_crowding_distance(np.asarray(F, dtype=float))


def hypervolume(F: np.ndarray, reference: np.ndarray) -> float:
    """Hypervolume dominated by F up to `reference` (minimisation); 0 for an empty set."""
    F = np.asarray(F, dtype=float)
    inside = F[np.all(F < reference, axis=1)] if len(F) else F
    return float(HV(ref_point=np.asarray(reference, dtype=float))(inside)) if len(inside) else 0.0
