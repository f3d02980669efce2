"""Finished runs: list them, show one, compare runs against baseline runs, write a run's
report, export one of its DyNNs. Torch loads only for the export."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hadas.errors import ConfigError
from hadas.report import EnergyGain, energy_gain, read_result, write_report
from hadas.report.compare import (GroupComparison, compare_groups, dvfs_verdict_lines,
                                  validation_figures)
from hadas.space.dynn import ArchiveEntry, entries

__all__ = ["ArchiveEntry", "compare_run_groups", "compare_runs", "dvfs_verdict_lines",
           "entries", "export_dynn", "list_runs", "load_result", "validate_run",
           "validation_figures", "write_report"]


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


def export_dynn(run_dir: str | Path, pick: int, out: str | Path, device: str = "cpu",
                say: Callable[[str], None] = lambda s: None,
                progress: bool = False) -> dict[str, Any]:
    """Write `program.pt`, ONNX pieces, `manifest.json` and `README.md` for archive entry `pick`
    (0-based) of the run in `run_dir` into `out` (`hadas export`); returns the manifest."""
    from hadas.export import write_bundle
    from hadas.model import resolve_device

    return write_bundle(run_dir, pick, out, resolve_device(device), say, progress)


def validate_run(run_dir: str | Path, device: str = "cpu", batch: int = 1,
                 say: Callable[[str], None] = lambda s: None, agent: str | None = None,
                 token_file: str | Path | None = None) -> dict[str, Any]:
    """Run every archive DyNN of a finished run for real on this machine (`hadas validate`),
    its segments measured on a device agent's board when `agent` is given, and compare with
    the search's predictions; written into result.json, shown by the report (rewritten)."""
    from hadas.api.board import connect_agent
    from hadas.export.validate import validate_run as measure_front
    from hadas.model import resolve_device

    remote = None
    if agent is not None:
        if token_file is None:
            raise ConfigError("token_file", "required with agent")
        remote = connect_agent(agent, token_file)
    validation = measure_front(run_dir, resolve_device(device), batch, say, remote=remote)
    write_report(Path(run_dir))
    return validation

