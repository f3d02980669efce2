"""The units of work of a search, as plain functions of (evaluators, task), so that any
executor (serial, process, Ray) can run them where the evaluators live."""
from __future__ import annotations

import time
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from hadas.config import ConstraintsConfig, IoeConfig
from hadas.search.ioe import run_ioe
from hadas.space import Backbone, ExitDvfsSpace


@dataclass(frozen=True)
class Task:
    kind: str                 # "backbone" | "ioe" (the evaluator fingerprint it is stored under)
    part: dict[str, Any]      # what is evaluated: {"backbone"} (+ "inner" or "random")
    seed: int
    ioe: IoeConfig
    limits: ConstraintsConfig = ConstraintsConfig()


def restrict(space: ExitDvfsSpace, inner: str, reference_dvfs: dict[str, int]) -> ExitDvfsSpace:
    """The inner space of a baseline: clocks fixed to the reference ones, or no exits."""
    if inner == "exits+dvfs":
        return space
    if inner == "exits":
        return space.replace(dvfs={d: (reference_dvfs[d],) for d in space.domains})
    return space.replace(positions=(), thresholds=space.thresholds[:1], min_exits=0, max_exits=0)


def run_task(evaluators: Any, task: Task) -> tuple[dict[str, Any], dict[str, float]]:
    """Compute one task; returns its JSON value and the seconds spent per phase. Every
    generator is seeded by (seed, backbone), so the value does not depend on where it runs."""
    b = Backbone.from_dict(task.part["backbone"])
    t0 = time.perf_counter()
    if task.kind == "backbone":
        value = evaluators.backbone(b)
        value["compute_s"] = {"backbone": time.perf_counter() - t0}
        return value, value["compute_s"]
    space, evaluator = evaluators.ioe_problem(b)
    t1 = time.perf_counter()
    tag = zlib.crc32(b.key.encode())
    if "random" in task.part:
        rng = np.random.default_rng([task.seed, tag, 2])
        found = [evaluator.evaluate(*space.sample(rng))
                 for _ in range(task.part["random"])]
        value = {"dynns": [r.to_dict() for r in found]}
    else:
        space = restrict(space, task.part["inner"], evaluators.reference_dvfs)
        space = space.replace(dvfs_genes=task.ioe.dvfs == "evolve")
        result = run_ioe(space, evaluator, task.ioe, np.random.default_rng([task.seed, tag]),
                         task.limits)
        value = {"front": [r.to_dict() for r in result.front], "n_evaluated": len(result.evaluated),
                 "n_plans": result.plans, "generations": result.generations}
    value["compute_s"] = {"exit_training": t1 - t0, "inner_search": time.perf_counter() - t1}
    return value, value["compute_s"]
