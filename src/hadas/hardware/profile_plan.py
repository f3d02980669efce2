"""What a profile measures: distinct backbones (min and max first), random exit plans and DVFS
points, each from its own seeded stream so a larger plan extends a smaller one."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from hadas.space import Backbone, BackboneSpace, ExitPlan, candidate_positions


def sample_backbones(space: BackboneSpace, n: int, rng: np.random.Generator) -> list[Backbone]:
    """`n` distinct backbones: the smallest, the largest, then uniform draws."""
    out = [space.smallest(), space.largest()][:n]
    attempts = 0
    while len(out) < min(n, space.size) and attempts < 100 * n:
        b = space.sample(rng)
        attempts += 1
        if b not in out:
            out.append(b)
    return out


def sample_exit_plan(n_blocks: int, first_exit_block: int, rng: np.random.Generator,
                     policy: str = "max_softmax", threshold: float = 0.8) -> ExitPlan:
    """1 .. max(1, candidates - 1) exits at distinct candidate positions (HADAS); none when the
    backbone is too short to have candidates."""
    candidates = candidate_positions(n_blocks, first_exit_block)
    if not candidates:
        return ExitPlan((), policy, threshold)
    k = int(rng.integers(1, max(1, len(candidates) - 1) + 1))
    positions = rng.choice(np.array(candidates), size=k, replace=False)
    return ExitPlan(tuple(int(p) for p in positions), policy, threshold)


def sample_dvfs_points(tables: Mapping[str, tuple[int, ...]], m: int,
                       rng: np.random.Generator) -> list[dict[str, int]]:
    """The max clocks, then distinct uniform draws from the tables; [{}] without tables."""
    if not tables:
        return [{}]
    n_points = int(np.prod([len(t) for t in tables.values()]))
    out = [{d: t[-1] for d, t in tables.items()}]
    while len(out) < min(m, n_points):
        point = {d: int(t[rng.integers(len(t))]) for d, t in tables.items()}
        if point not in out:
            out.append(point)
    return out
