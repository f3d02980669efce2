"""The scored DyNN: frozen, typed, torch-free records (`DynnResult`: exit plan, DVFS setting,
objectives, exit statistics, provenance; `ArchiveEntry`: a DyNN with its backbone and the
generation that found it), and the search's objectives declared once with their directions.

Every comparison, rank and hypervolume reads `OBJECTIVES` through `minimised`; nothing negates
an objective by hand. The dict form (`to_dict`/`from_dict`) is for the JSON and storage edges.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from hadas.space.backbone import Backbone
from hadas.space.exits import ExitPlan


@dataclass(frozen=True)
class Objective:
    """One objective of the search: a key of the record and its direction. A maximised one
    with a `bound` is minimised as `bound - value` (top-1 % -> top-1 error %)."""

    key: str
    direction: str          # "minimize" | "maximize"
    bound: float = 0.0

    def minimised(self, value: float) -> float:
        return self.bound - value if self.direction == "maximize" else value


OBJECTIVES = (Objective("top1", "maximize", 100.0),  # minimised: top-1 error (%)
              Objective("latency_ms", "minimize"), Objective("energy_mj", "minimize"))


def score(scores: Mapping[str, Any] | DynnResult | ArchiveEntry, key: str) -> float:
    """One score of a DyNN given as a record or as a dict of scores (a backbone alone)."""
    if isinstance(scores, ArchiveEntry):
        scores = scores.dynn
    return float(scores[key] if isinstance(scores, Mapping) else getattr(scores, key))


def minimised(scores: Mapping[str, Any] | DynnResult | ArchiveEntry) -> np.ndarray:
    """One row of minimised objectives from anything holding their keys (a dict or a record)."""
    return np.array([o.minimised(score(scores, o.key)) for o in OBJECTIVES])


Scored = TypeVar("Scored", bound="Mapping[str, Any] | DynnResult | ArchiveEntry")


def least_energy_at_accuracy(dynns: Iterable[Scored], top1: float) -> Scored | None:
    """The least-energy DyNN with top-1 >= `top1` (the first of equals), or None: the paper's
    comparison "at equal accuracy"."""
    matched = [d for d in dynns if score(d, "top1") >= top1]
    return min(matched, key=lambda d: score(d, "energy_mj")) if matched else None


def objective_matrix(rows: Iterable[Mapping[str, Any] | DynnResult | ArchiveEntry]
                     ) -> np.ndarray:
    """[n, 3] minimised objectives of records or score dicts (an empty input gives [0, 3])."""
    return np.array([minimised(r) for r in rows]).reshape(-1, len(OBJECTIVES))


@dataclass(frozen=True)
class DynnResult:
    """One scored DyNN of a backbone: its exit plan at one DVFS setting."""

    plan: ExitPlan
    dvfs_hz: dict[str, int]
    top1: float
    latency_ms: float
    energy_mj: float
    exit_rates: tuple[float, ...]
    exit_accuracy: tuple[float | None, ...]
    provenance: dict[str, str] = field(default_factory=dict)

    @property
    def objectives(self) -> np.ndarray:
        return minimised(self)

    def to_dict(self) -> dict[str, Any]:
        return {"exits": self.plan.to_dict(), "dvfs_hz": dict(self.dvfs_hz),
                "top1": self.top1, "latency_ms": self.latency_ms, "energy_mj": self.energy_mj,
                "exit_rates": list(self.exit_rates), "exit_accuracy": list(self.exit_accuracy),
                "provenance": dict(self.provenance)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "DynnResult":
        return cls(ExitPlan.from_dict(d["exits"]), dict(d["dvfs_hz"]), d["top1"],
                   d["latency_ms"], d["energy_mj"], tuple(d["exit_rates"]),
                   tuple(d["exit_accuracy"]), dict(d["provenance"]))


@dataclass(frozen=True)
class DvfsGrid:
    """One exit plan at many DVFS points: one accuracy and one set of exit rates (clocks change
    neither), an expected latency and energy per point."""

    plan: ExitPlan
    top1: float
    exit_rates: tuple[float, ...]
    exit_accuracy: tuple[float | None, ...]
    clocks: Mapping[str, np.ndarray]    # domain -> [n_points] Hz
    latency_ms: np.ndarray              # [n_points]
    energy_mj: np.ndarray               # [n_points]
    provenance: Mapping[str, str]

    def result(self, i: int) -> DynnResult:
        return DynnResult(self.plan, {d: int(v[i]) for d, v in self.clocks.items()}, self.top1,
                          float(self.latency_ms[i]), float(self.energy_mj[i]), self.exit_rates,
                          self.exit_accuracy, dict(self.provenance))


DynnKey = tuple[Backbone, ExitPlan, tuple[tuple[str, int], ...]]  # backbone, exits, clocks


@dataclass(frozen=True)
class ArchiveEntry:
    """One DyNN of a search: its backbone, its scored exit plan at one DVFS setting, and the
    outer generation that found it (None for a DyNN seen on the way, not archived)."""

    backbone: Backbone
    dynn: DynnResult
    generation: int | None = None

    @property
    def key(self) -> DynnKey:
        """What makes two entries the same DyNN: backbone, exit plan and clocks."""
        return self.backbone, self.dynn.plan, tuple(sorted(self.dynn.dvfs_hz.items()))

    def to_dict(self) -> dict[str, Any]:
        out = {"backbone": self.backbone.to_dict(), "dynn": self.dynn.to_dict()}
        return out if self.generation is None else {**out, "generation": self.generation}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ArchiveEntry":
        return cls(Backbone.from_dict(d["backbone"]), DynnResult.from_dict(d["dynn"]),
                   d.get("generation"))


def entries(dicts: Iterable[Mapping[str, Any]]) -> list[ArchiveEntry]:
    """Records of the entries of a result.json archive (or its `evaluated` list)."""
    return [ArchiveEntry.from_dict(d) for d in dicts]
