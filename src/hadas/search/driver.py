"""The evaluation driver of a search: every evaluation (a backbone scored alone, one IOE) goes
through the run database (content-addressed by the evaluators' fingerprints) and, when it is
not stored yet, through the executor; what was computed, reused and spent is counted."""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hadas.config import HadasConfig
from hadas.executors import Executor
from hadas.search.tasks import Task, run_task
from hadas.storage import RunDatabase

SPENT = ("backbones", "ioes", "dynns", "backbone_s", "exit_training_s", "inner_search_s")


@dataclass
class SearchStats:
    computed: dict[str, int] = field(default_factory=lambda: {"backbone": 0, "ioe": 0})
    cached: dict[str, int] = field(default_factory=lambda: {"backbone": 0, "ioe": 0})
    # compute time per phase (summed over workers); "ioe" = "exit_training" + "inner_search"
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(
        ("backbone", "ioe", "exit_training", "inner_search", "storage"), 0.0))


class EvaluationDriver:
    def __init__(self, cfg: HadasConfig, fingerprints: dict[str, str], db: RunDatabase,
                 executor: Executor):
        self.cfg, self.fingerprints, self.db, self.executor = cfg, fingerprints, db, executor
        self.stats = SearchStats()
        self.spent = dict.fromkeys(SPENT, 0.0)  # distinct evaluations of this search
        self._counted: set[str] = set()

    def evaluate(self, kind: str, parts: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """The value of every part: from the database, or computed by the executor and stored
        as soon as each one comes back (equal parts are computed once)."""
        fp = self.fingerprints[kind]
        t0 = time.perf_counter()
        values: list[dict[str, Any] | None] = [self.db.get_evaluation(fp, p) for p in parts]
        self.stats.seconds["storage"] += time.perf_counter() - t0
        missing: dict[str, list[int]] = {}
        for i, (part, value) in enumerate(zip(parts, values)):
            if value is None:
                missing.setdefault(json.dumps(part, sort_keys=True), []).append(i)
            else:
                self.stats.cached[kind] += 1
        todo = [parts[where[0]] for where in missing.values()]
        tasks = [Task(kind, p, self.cfg.seed, self.cfg.search.ioe, self.cfg.search.constraints)
                 for p in todo]
        for j, (value, phases) in self.executor.imap(run_task, tasks):
            t0 = time.perf_counter()
            self.db.put_evaluation(fp, todo[j], value, sum(phases.values()))
            self.stats.seconds["storage"] += time.perf_counter() - t0
            self.stats.computed[kind] += 1
            self.stats.seconds[kind] += sum(phases.values())
            for phase, seconds in phases.items():
                if phase != kind:  # a backbone task's one phase is the task: counted above
                    self.stats.seconds[phase] = self.stats.seconds.get(phase, 0.0) + seconds
            for i in missing[json.dumps(todo[j], sort_keys=True)]:
                values[i] = value
        done = [v for v in values if v is not None]
        assert len(done) == len(parts), "the executor left a task without a result"
        for part, value in zip(parts, done):
            self._count(kind, part, value)
        return done

    def _count(self, kind: str, part: dict[str, Any], value: dict[str, Any]) -> None:
        """Add a distinct evaluation of this search to what it has spent (stored or not)."""
        key = json.dumps([kind, part], sort_keys=True)
        if key in self._counted:
            return
        self._counted.add(key)
        self.spent["backbones" if kind == "backbone" else "ioes"] += 1
        self.spent["dynns"] += value.get("n_evaluated", len(value.get("dynns", ())))
        for phase, seconds in value.get("compute_s", {}).items():
            self.spent[f"{phase}_s"] += seconds
