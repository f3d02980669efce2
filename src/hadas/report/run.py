"""What a report shows, read from a finished run directory (no torch, no models).

- `result.json`: the archive, hypervolume per generation, what the search evaluated on its
  way (every DyNN of the inner engines, every backbone scored alone), config, provenance and
  the energy breakdown;
- sibling run directories of the same seed (`<parent>/<mode>-seed<seed>`): the baselines.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hadas.errors import ConfigError, HadasError
from hadas.files import read_json
from hadas.space.dynn import ArchiveEntry, DynnResult, entries


@dataclass
class RunData:
    """A run's result.json (the JSON document) with its archive read into records."""

    directory: Path
    result: dict[str, Any]
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)  # mode -> result
    archive: list[ArchiveEntry] = field(init=False)
    evaluated: list[DynnResult] = field(init=False)  # what the inner engines returned

    def __post_init__(self) -> None:
        self.archive = entries(self.result["archive"])
        self.evaluated = [e.dynn for e in entries(self.result.get("evaluated", []))]

    def baseline_archive(self, mode: str) -> list[ArchiveEntry]:
        return entries(self.baselines[mode]["archive"])

    @property
    def backbones(self) -> list[dict[str, Any]]:
        """Backbones scored alone (top1, latency_ms, energy_mj) during the search."""
        return self.result.get("scored", [])


# what readers of result.json rely on: top-level key -> type, and the numbers of every DyNN
_RESULT_KEYS: dict[str, type | tuple[type, ...]] = {
    "name": str, "mode": str, "seed": int, "platform": str, "hypervolume": list, "archive": list, "evaluated": list, "scored": list,
    "breakdown": (list, type(None))}
_DYNN_NUMBERS = ("top1", "latency_ms", "energy_mj")


def read_result(run_dir: Path) -> dict[str, Any]:
    """A run's result.json, checked for the shape every reader relies on."""
    path = run_dir / "result.json"
    if not path.is_file():
        raise HadasError(f"{path} not found: is {run_dir} a finished `hadas search` run?")
    try:
        data = read_json(path, "result")
    except ConfigError as exc:
        raise HadasError(f"{exc}: rerun `hadas search` to rewrite it") from None
    problem = result_shape_problem(data)
    if problem:
        raise HadasError(f"{path} is not a hadas result ({problem}): rerun `hadas search` to "
                         "rewrite it")
    return data


def result_shape_problem(data: Any) -> str | None:
    """What is wrong with a result.json's shape, or None."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not an object"
    for key, kind in _RESULT_KEYS.items():
        if key not in data:
            return f"no {key!r}"
        if not isinstance(data[key], kind) or isinstance(data[key], bool):
            return f"{key!r} is a {type(data[key]).__name__}"
    for i, entry in enumerate(data["archive"] + data["evaluated"]):
        where = f"archive[{i}]" if i < len(data["archive"]) else "evaluated[...]"
        dynn = entry.get("dynn") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or not isinstance(entry.get("backbone"), dict) \
                or not isinstance(dynn, dict):
            return f"{where} lacks a backbone and a dynn"
        for key in _DYNN_NUMBERS:
            if not _is_number(dynn.get(key)):
                return f"{where}.dynn.{key} is {dynn.get(key)!r}, not a number"
        for key in ("exits", "dvfs_hz", "provenance"):
            if not isinstance(dynn.get(key), dict):
                return f"{where}.dynn.{key} is {type(dynn.get(key)).__name__}, not an object"
        try:
            ArchiveEntry.from_dict(entry)
        except ConfigError as exc:
            return f"{where}: {exc}"
        except (KeyError, TypeError, ValueError) as exc:
            return f"{where} is not a DyNN ({type(exc).__name__}: {exc})"
    if not all(_is_number(v) for v in data["hypervolume"]):
        return "hypervolume holds a non-number"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def load_run(run_dir: str | Path) -> RunData:
    run_dir = Path(run_dir)
    data = RunData(run_dir, read_result(run_dir))
    seed = data.result["seed"]
    for sibling in sorted(run_dir.resolve().parent.glob(f"*-seed{seed}/result.json")):
        if sibling.parent == run_dir.resolve():
            continue
        try:
            other = read_result(sibling.parent)
        except HadasError:  # a broken neighbour does not stop this run's report
            continue
        if other.get("name") == data.result["name"]:
            data.baselines.setdefault(other["mode"], other)
    data.baselines.pop(data.result["mode"], None)
    return data
