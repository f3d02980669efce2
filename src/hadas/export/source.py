"""One DyNN of a finished search run: read it from `result.json`, rebuild its network.

The network is rebuilt through `hadas.exits.prepare_exits`, with the run's config, supernet
checkpoint and exit-bank folder, so it is the very one whose exit cache gave the run's numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from hadas.config import HadasConfig, config_from_dict
from hadas.data import DataSplits, load_data
from hadas.errors import ConfigError, HadasError
from hadas.exits import ExitArtifacts, file_checksum, prepare_exits
from hadas.model import Supernet, load_supernet
from hadas.report import read_result
from hadas.space import Backbone, ExitPlan
from hadas.space.dynn import ArchiveEntry

RERUN = "rerun `hadas search` with the same config and run directory (finished work is reused)"


class ExportError(HadasError):
    """A run that cannot be exported: says why and what to do."""


@dataclass(frozen=True)
class PickedDynn:
    """What `result.json` says about one archive entry and the run that made it."""

    run_dir: Path
    pick: int
    result: dict[str, Any]
    entry: ArchiveEntry
    cfg: HadasConfig
    checkpoint: Path
    exits_dir: Path

    @property
    def backbone(self) -> Backbone:
        return self.entry.backbone

    @property
    def plan(self) -> ExitPlan:
        return self.entry.dynn.plan

    @property
    def dvfs_hz(self) -> dict[str, int]:
        return {d: round(hz) for d, hz in self.entry.dynn.dvfs_hz.items()}


def pick_dynn(run_dir: str | Path, pick: int, result: dict[str, Any] | None = None
              ) -> PickedDynn:
    """Entry `pick` (0-based) of the run's archive, checked; no torch work yet. `result`: the
    run's result.json when the caller has read it already."""
    run_dir = Path(run_dir)
    if result is None:
        result = read_result(run_dir)  # a clear error when missing or broken
    archive = result.get("archive") or []
    if not archive:
        raise ExportError(f"{run_dir / 'result.json'} has an empty archive: nothing to export")
    if not 0 <= pick < len(archive):
        raise ConfigError("pick", f"got {pick}, the archive of {run_dir} has {len(archive)} "
                          "DyNNs", f"0..{len(archive) - 1}")
    missing = [k for k in ("config", "supernet") if k not in result]
    if missing:
        raise ExportError(f"{run_dir / 'result.json'} was written by an older hadas and lacks "
                          f"{' and '.join(missing)}: {RERUN}")
    cfg = config_from_dict(result["config"])
    checkpoint = Path(result["supernet"]["checkpoint"])
    if not checkpoint.is_file():
        raise ExportError(f"supernet checkpoint {checkpoint} of run {run_dir} not found "
                          "(moved or deleted?): restore it, or " + RERUN)
    return PickedDynn(run_dir, pick, result, ArchiveEntry.from_dict(archive[pick]), cfg,
                      checkpoint, Path(result["supernet"]["exits_dir"]))


Loaded = tuple[Supernet, str, DataSplits]  # the supernet, its checksum, the data


def load_run(picked: PickedDynn, device: torch.device) -> Loaded:
    """What every DyNN of the run is rebuilt from: its supernet (and checksum) and its data."""
    return (load_supernet(picked.cfg, picked.checkpoint, device),
            file_checksum(picked.checkpoint), load_data(picked.cfg.data))


def rebuild(picked: PickedDynn, device: torch.device, progress: bool = False,
            loaded: Loaded | None = None) -> tuple[ExitArtifacts, DataSplits]:
    """The DyNN's multi-exit network and exit cache, as the run's evaluators built them
    (`loaded`: `load_run` of the same run, when rebuilding several of its DyNNs)."""
    supernet, supernet_id, data = loaded or load_run(picked, device)
    art = prepare_exits(picked.cfg, supernet, supernet_id, picked.backbone, data,
                        picked.exits_dir, device, progress)
    return art, data
