"""`HadasEvaluators`: everything the bi-level search evaluates, for one run configuration.

- `backbone(b)`: top-1 by weight inheritance, and the static latency/energy of the backbone
  (no exits) at the platform's reference clocks: the OOE's first objectives.
- `ioe_problem(b)`: the exit bank of b (trained once, content-addressed) turned into an
  `ExitDvfsSpace` and a `DynnEvaluator` (exit simulator + hardware model) for its IOE.
Fingerprints name everything a result depends on, so the run database can reuse results.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

import numpy as np
import torch

from hadas.config import HadasConfig
from hadas.digest import json_digest
from hadas.data import DataSplits
from hadas.evaluation.backbone import evaluate_backbone
from hadas.evaluation.dynamic import DynnEvaluator
from hadas.evaluation.measured import MeasuredHardware
from hadas.exits import ExitSimulator, prepare_exits
from hadas.hardware import DvfsSetting, HardwareModel
from hadas.data import load_data
from hadas.exits import file_checksum
from hadas.hardware import resolve_platform
from hadas.model import Supernet, load_supernet, resolve_device
from hadas.space import Backbone, ExitDvfsSpace, ExitPlan
from hadas.training.inheritance import Inheritance


class HadasEvaluators:
    def __init__(self, cfg: HadasConfig, supernet: Supernet, supernet_id: str, data: DataSplits,
                 hardware: HardwareModel | MeasuredHardware, exits_root: str,
                 device: torch.device,
                 progress: bool = False):
        self.cfg, self.supernet, self.data, self.hardware = cfg, supernet, data, hardware
        self.supernet_id, self.exits_root, self.device = supernet_id, exits_root, device
        self.progress = progress
        # a backbone scored alone and then given exits has its BN re-estimated once
        self.inherited = Inheritance(supernet, data, cfg.evaluation, device, cfg.seed)
        self.reference_dvfs = DvfsSetting.reference(hardware.platform, hardware.mode).to_dict()
        common = {"supernet": supernet_id, "data": asdict(cfg.data), "seed": cfg.seed,
                  "evaluation": asdict(cfg.evaluation), "hardware": hardware.identity}
        s = cfg.search
        self.fingerprints = {
            "backbone": "backbone@" + json_digest(common),
            "ioe": "ioe@" + json_digest({**common, "exits": {  # the same digest as before
                **cfg.exits.recipe(), "policy": cfg.exits.policy,
                "threshold": cfg.exits.threshold}, "ioe": asdict(s.ioe),
                "thresholds": s.thresholds, "min_exits": s.min_exits, "max_exits": s.max_exits}),
        }

    def backbone(self, b: Backbone) -> dict:
        """Accuracy and static costs (no exits, reference clocks) of one backbone."""
        ev = evaluate_backbone(self.supernet, b, self.data, self.cfg.evaluation,
                               self.cfg.data.eval_split, self.cfg.seed, self.device,
                               self.inherited)
        sk = self.supernet.space.skeleton(b)
        reference = DvfsSetting.create(self.hardware.platform, self.reference_dvfs)
        costs = self.hardware.segment_costs(sk, ExitPlan(()), reference)
        return {"top1": ev.top1, "mflops": ev.mflops, "mparams": ev.mparams,
                "latency_ms": float(costs.total_latency_ms),
                "energy_mj": float(costs.total_energy_mj), "dvfs_hz": reference.to_dict(),
                "provenance": dict(costs.provenance)}

    def ioe_problem(self, b: Backbone) -> tuple[ExitDvfsSpace, DynnEvaluator]:
        """The inner space and objective of one backbone (trains its exit bank if needed)."""
        art = prepare_exits(self.cfg, self.supernet, self.supernet_id, b, self.data,
                            self.exits_root, self.device, self.progress,
                            inherited=self.inherited)
        s = self.cfg.search
        space = ExitDvfsSpace(art.positions, s.thresholds, self.hardware.dvfs_hz,
                              self.cfg.exits.policy, s.min_exits, s.max_exits)
        evaluator = DynnEvaluator(self.supernet.space.skeleton(b), ExitSimulator(art.cache),
                                  self.hardware)
        return space, evaluator

    def reference_point(self) -> np.ndarray:
        """Hypervolume reference: 100 % error and the largest backbone's worst latency and
        energy over the platform's whole DVFS grid (no exits)."""
        sk = self.supernet.space.skeleton(self.supernet.space.largest())
        grid = self.hardware.costs_grid(sk, ExitPlan(()))
        return np.array([100.0, float(grid.total_latency_ms.max()),
                         float(grid.total_energy_mj.max())])


def build_evaluators(cfg: HadasConfig, checkpoint: str, platform: str, exits_root: str,
                     device: str = "auto", progress: bool = False,
                     measured: Callable[[HardwareModel], MeasuredHardware] | None = None
                     ) -> HadasEvaluators:
    """Load what the evaluators need (supernet, data, hardware model); executors call this
    once per worker, so it takes only picklable arguments. `measured`: builds the measured
    backend around the platform's model (`search.hardware` measured or remote)."""
    dev = resolve_device(device)
    model = HardwareModel(resolve_platform(platform), exit_channels=cfg.exits.exit_channels)
    hardware = model if measured is None else measured(model)
    return HadasEvaluators(cfg, load_supernet(cfg, checkpoint, dev), file_checksum(checkpoint),
                           load_data(cfg.data), hardware, exits_root, dev, progress)
