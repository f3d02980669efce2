"""Early-exit work: train the exit bank of a backbone, evaluate exit plans on it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hadas.api.supernet import configure
from hadas.config import HadasConfig
from hadas.data import load_data
from hadas.exits import ExitArtifacts, ExitSimulator, Simulation, file_checksum, prepare_exits
from hadas.model import load_supernet, resolve_device
from hadas.space import BackboneSpace, ExitPlan, resolve_arch
from hadas.training import process_group


@dataclass(frozen=True)
class ExitEvaluation:
    plan: ExitPlan
    simulation: Simulation
    artifacts: ExitArtifacts


def default_exits_dir(checkpoint: str | Path) -> Path:
    """Exit banks live beside the supernet checkpoint they were trained on."""
    return Path(checkpoint).resolve().parent / "exits"


def train_exit_bank(config: str | Path | HadasConfig, checkpoint: str | Path, arch: str,
                    out: str | Path | None = None, device: str = "auto", progress: bool = True,
                    download: bool | None = None,
                    collective_timeout: float = 300.0) -> ExitArtifacts:
    """Train (or reuse) the heads of every candidate exit of one backbone, and its exit cache;
    data-parallel under torchrun, as `train_supernet`."""
    cfg = configure(config, download)
    with process_group(resolve_device(device), collective_timeout) as (world, dev):
        supernet = load_supernet(cfg, checkpoint, dev)
        backbone = resolve_arch(supernet.space, arch)
        return prepare_exits(cfg, supernet, file_checksum(checkpoint), backbone,
                             load_data(cfg.data), out or default_exits_dir(checkpoint), dev,
                             progress, world)


def evaluate_exits(config: str | Path | HadasConfig, checkpoint: str | Path, arch: str,
                   positions: tuple[int, ...], threshold: float | tuple[float, ...] | None = None,
                   policy: str | None = None, out: str | Path | None = None,
                   device: str = "auto", progress: bool = True,
                   download: bool | None = None) -> ExitEvaluation:
    """Top-1, exit rates and per-exit accuracy of an exit plan (trains the bank if needed)."""
    cfg = configure(config, download)
    space = BackboneSpace(cfg.supernet)  # the plan is checked before any bank is trained
    plan = ExitPlan(positions, policy or cfg.exits.policy,
                    cfg.exits.threshold if threshold is None else threshold)
    plan.validate(space.skeleton(resolve_arch(space, arch)).n_blocks, cfg.exits.first_exit_block)
    art = train_exit_bank(cfg, checkpoint, arch, out, device, progress)
    return ExitEvaluation(plan, ExitSimulator(art.cache).simulate(plan), art)
