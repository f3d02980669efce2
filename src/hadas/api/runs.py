"""Reading finished runs: list them, show one, compare runs against baseline runs."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hadas.report import EnergyGain, energy_gain, read_result
from hadas.report.compare import GroupComparison, compare_groups, dvfs_verdict_lines
from hadas.space.dynn import ArchiveEntry, entries

__all__ = ["ArchiveEntry", "compare_run_groups", "compare_runs", "dvfs_verdict_lines",
           "entries", "list_runs", "load_result"]


def load_result(run_dir: str | Path) -> dict[str, Any]:
    return read_result(Path(run_dir))


def list_runs(root: str | Path = "runs") -> list[tuple[Path, dict[str, Any]]]:
    """Every finished run under `root` (folders holding a result.json)."""
    return [(p.parent, read_result(p.parent)) for p in sorted(Path(root).rglob("result.json"))]


def compare_runs(run_dir: str | Path, baseline_dir: str | Path) -> tuple[dict, dict, EnergyGain]:
    ours, base = load_result(run_dir), load_result(baseline_dir)
    return ours, base, energy_gain(entries(ours["archive"]), entries(base["archive"]))


def compare_run_groups(run_dirs: Sequence[str | Path], baseline_dirs: Sequence[str | Path]
                       ) -> GroupComparison:
    """Several runs (one per seed) against as many baseline runs of the same seeds."""
    return compare_groups([load_result(d) for d in run_dirs],
                          [load_result(d) for d in baseline_dirs])
