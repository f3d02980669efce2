"""What a report shows, read from a finished run directory (no torch, no models).

- `result.json`: the archive, hypervolume per generation, config, provenance, breakdown;
- the run database (when present): every DyNN the inner engines returned and every backbone
  evaluated alone, drawn behind the archive;
- sibling run directories of the same seed (`<parent>/<mode>-seed<seed>`): the baselines.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hadas.errors import HadasError
from hadas.storage import DB_NAME, RunDatabase


@dataclass
class RunData:
    directory: Path
    result: dict[str, Any]
    evaluated: list[dict[str, Any]] = field(default_factory=list)   # DyNN dicts of IOE fronts
    backbones: list[dict[str, Any]] = field(default_factory=list)   # backbone-alone values
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)  # mode -> result

    @property
    def archive(self) -> list[dict[str, Any]]:
        return self.result["archive"]


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
    if (run_dir / DB_NAME).is_file():
        with RunDatabase(run_dir) as db:
            for part, value in db.evaluations():
                if "front" in value:
                    data.evaluated.extend(value["front"])
                elif "dynns" in value:
                    data.evaluated.extend(value["dynns"])
                elif set(part) == {"backbone"}:
                    data.backbones.append(value)
    seed = data.result["seed"]
    for sibling in sorted(run_dir.resolve().parent.glob(f"*-seed{seed}/result.json")):
        other = json.loads(sibling.read_text())
        if sibling.parent != run_dir.resolve() and other.get("name") == data.result["name"]:
            data.baselines.setdefault(other["mode"], other)
    data.baselines.pop(data.result["mode"], None)
    return data
