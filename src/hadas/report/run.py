"""What a report shows, read from a finished run directory (no torch, no models).

- `result.json`: the archive, hypervolume per generation, what the search evaluated on its
  way (every DyNN of the inner engines, every backbone scored alone), config, provenance and
  the energy breakdown;
- sibling run directories of the same seed (`<parent>/<mode>-seed<seed>`): the baselines.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hadas.errors import HadasError


@dataclass
class RunData:
    directory: Path
    result: dict[str, Any]
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)  # mode -> result

    @property
    def archive(self) -> list[dict[str, Any]]:
        return self.result["archive"]

    @property
    def evaluated(self) -> list[dict[str, Any]]:
        """DyNN dicts the inner engines returned during the search."""
        return [e["dynn"] for e in self.result.get("evaluated", [])]

    @property
    def backbones(self) -> list[dict[str, Any]]:
        """Backbones scored alone (top1, latency_ms, energy_mj) during the search."""
        return self.result.get("scored", [])


def read_result(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "result.json"
    if not path.is_file():
        raise HadasError(f"{path} not found: is {run_dir} a finished `hadas search` run?")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise HadasError(f"{path} is not valid JSON ({exc}): rerun `hadas search`") from None


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
