"""Supernet work: describe a backbone, train the supernet, evaluate a backbone."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hadas.config import HadasConfig, load_config
from hadas.space import BackboneSpace, resolve_arch

if TYPE_CHECKING:  # torch loads only when these run
    from hadas.evaluation import BackboneEvaluation
    from hadas.training.supernet_trainer import TrainResult


def configure(config: str | Path | HadasConfig, download: bool | None = None) -> HadasConfig:
    """Load a config (path or object), optionally overriding `data.download`."""
    cfg = config if isinstance(config, HadasConfig) else load_config(config)
    if download is not None:
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, download=download))
    return cfg


def describe(config: str | Path | HadasConfig, arch: str) -> dict[str, Any]:
    """MFLOPs, parameters, resolution and block count of a backbone (no torch needed)."""
    cfg = configure(config)
    space = BackboneSpace(cfg.supernet)
    sk = space.skeleton(resolve_arch(space, arch))
    return {"mflops": round(sk.mflops, 4), "mparams": round(sk.mparams, 4),
            "resolution": sk.backbone.resolution, "n_blocks": sk.n_blocks,
            "arch": sk.backbone.to_dict()}


def default_supernet_dir(cfg: HadasConfig) -> Path:
    return Path("runs") / cfg.name / "supernet"


def train_supernet(config: str | Path | HadasConfig, out: str | Path | None = None,
                   device: str = "auto", resume: bool = False, progress: bool = True,
                   download: bool | None = None, collective_timeout: float = 300.0
                   ) -> TrainResult:
    """Train the supernet of a config; see `hadas.training.train_supernet`. Under torchrun
    (WORLD_SIZE > 1) every process runs this and they train data-parallel; a collective that
    waits longer than `collective_timeout` seconds stops the job."""
    from hadas.model import resolve_device
    from hadas.training import process_group, train_supernet as _train

    cfg = configure(config, download)
    out = Path(out) if out else default_supernet_dir(cfg)
    with process_group(resolve_device(device), collective_timeout) as (world, dev):
        return _train(cfg, out, dev, resume=resume, progress=progress, world=world)


def is_main_process() -> bool:
    """False on the ranks > 0 of a torchrun job (they leave the printing to rank 0)."""
    from hadas.training import world_from_env

    return world_from_env().main


def evaluate(config: str | Path | HadasConfig, checkpoint: str | Path, arch: str,
             device: str = "auto", split: str | None = None, download: bool | None = None
             ) -> BackboneEvaluation:
    """Top-1 (BN re-estimated), MFLOPs and parameters of one backbone of a trained supernet."""
    from hadas.data import load_data
    from hadas.evaluation import evaluate_backbone
    from hadas.model import load_supernet, resolve_device

    cfg = configure(config, download)
    dev = resolve_device(device)
    net = load_supernet(cfg, checkpoint, dev)
    backbone = resolve_arch(net.space, arch)
    return evaluate_backbone(net, backbone, load_data(cfg.data), cfg.evaluation,
                             split or cfg.data.eval_split, seed=cfg.seed, device=dev)
