"""`hadas validate`: every archive DyNN of a finished run, rebuilt through the export path and
run for real (early-exit inference over the evaluation split) on this machine, against what the
search predicted for it.

Per DyNN: the measured mean latency per sample (and energy where a sensor exists), the same for
its static backbone (no exits), and whether the program reproduces the run's top-1 and exit
rates. With a device agent (`remote`), the DyNN's segments are measured on the agent's board at
the DyNN's clocks and composed with the exit rates of the real inference run here: the agent
measures segments, it does not run programs. Over the front: latency MAPE and Kendall tau of predicted against measured, which DyNNs
are still non-dominated once measured, and the speed-up the exits really give. The numbers go
into result.json (`validation`), which the report shows.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hadas.atomic import write_atomic
from hadas.data import DataSplits, ImageTensors, TensorLoader
from hadas.errors import ConfigError
from hadas.exits import ExitArtifacts
from hadas.export.pieces import split_network
from hadas.export.program import build_program
from hadas.export.source import Loaded, PickedDynn, load_run, pick_dynn, rebuild
from hadas.export.verify import outcome, same_outcome, simulated
from hadas.hardware.agent import RemoteHardware
from hadas.hardware.clocks import DvfsSetting
from hadas.hardware.expected import expected_costs
from hadas.hardware.fit_metrics import kendall_tau, mape
from hadas.hardware.measure import Unavailable, energy_source
from hadas.report import read_result
from hadas.space import Backbone, BackboneSpace, ExitPlan
from hadas.space.policies import DEPLOYABLE

MAX_BATCH = 4096


def validate_run(run_dir: str | Path, device: torch.device, batch: int = 1,
                 say: Callable[[str], None] = lambda s: None, warmup: int = 5,
                 remote: RemoteHardware | None = None) -> dict[str, Any]:
    """Measure every archive DyNN of the run in `run_dir` (on `remote`'s board when given);
    writes and returns `validation`."""
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
        raise ConfigError("batch", f"must be an integer in 1..{MAX_BATCH}, got {batch!r}")
    run_dir = Path(run_dir)
    result = read_result(run_dir)
    energy = energy_source(device.type)
    # what the search predicted for each backbone alone (no exits, reference clocks)
    static_predicted = {Backbone.from_dict(s["backbone"]).to_json(): s["latency_ms"]
                        for s in result.get("scored", [])}
    rows: list[dict[str, Any]] = []
    static_ms: dict[str, float] = {}
    networks: dict[str, tuple[ExitArtifacts, DataSplits]] = {}  # one rebuild per backbone
    loaded: Loaded | None = None             # one supernet and data for the whole run
    runner = Runner(device, batch, warmup, energy, remote)
    for pick in range(len(result["archive"])):
        picked = pick_dynn(run_dir, pick, result)
        if picked.plan.policy not in DEPLOYABLE:
            raise ConfigError("exits.policy", f"DyNN {pick} uses {picked.plan.policy!r}, which "
                              "needs the labels: it cannot run for real", DEPLOYABLE)
        key = picked.backbone.to_json()
        if key not in networks:
            say(f"rebuilding backbone {len(networks) + 1} (DyNN {pick})")
            loaded = loaded or load_run(picked, device)
            networks[key] = rebuild(picked, device, loaded=loaded)
            static_ms[key] = runner.run(*networks[key], picked, ExitPlan(()))["latency_ms"]
        art, data = networks[key]
        got = runner.run(art, data, picked, picked.plan)
        dynn = picked.entry.dynn
        rows.append({"pick": pick, "predicted_ms": dynn.latency_ms,
                     "predicted_mj": dynn.energy_mj, "provenance": dict(dynn.provenance),
                     "measured_ms": got["latency_ms"], "measured_mj": got["energy_mj"],
                     "energy_unavailable": got["energy_unavailable"],
                     "static_ms": static_ms[key], "static_predicted_ms": static_predicted.get(key),
                     "speedup": static_ms[key] / got["latency_ms"],
                     "top1": got["top1"], "exit_rates": got["exit_rates"],
                     "reproduces_run": same_outcome(got, simulated(art.cache, picked.plan))})
        say(f"DyNN {pick}: predicted {dynn.latency_ms:.3f} ms, measured "
            f"{got['latency_ms']:.3f} ms, static backbone {static_ms[key]:.3f} ms")
    where = str(device) if remote is None else (
        f"agent {remote.url} ({remote.described()['platform']}, segments composed with the exit "
        "rates of real inference; at the DyNN's clocks where the board has them, else its "
        "reference clocks)")
    validation = summary(rows, where, batch)
    result["validation"] = validation
    write_atomic(run_dir / "result.json", lambda f: json.dump(result, f, indent=1), binary=False)
    return validation


@dataclass(frozen=True)
class Runner:
    """How DyNNs run: device, batch, warmup batches, energy sensor, and the agent (if any)
    whose board measures the segments instead."""

    device: torch.device
    batch: int
    warmup: int
    energy: Any
    remote: RemoteHardware | None

    def run(self, art: ExitArtifacts, data: DataSplits, picked: PickedDynn, plan: ExitPlan
            ) -> dict[str, Any]:
        """`plan` of the picked DyNN's backbone as its early-exit program, over the split."""
        split = data.split(picked.cfg.data.eval_split)
        program = build_program(split_network(art.network, plan), plan,
                                _example(split, data, self.device), data.mean, data.std)
        got = _measure(program, split, data, self.device, self.batch, self.warmup,
                       self.energy, len(plan.positions))
        if self.remote is not None:  # the board's segments, weighted by the real exit rates
            skeleton = BackboneSpace(picked.cfg.supernet).skeleton(picked.backbone)
            costs = self.remote.segment_costs(skeleton, plan,
                                              board_clocks(self.remote, picked.dvfs_hz))
            latency, energy_mj = expected_costs(costs, got["exit_rates"])
            missing = costs.provenance["energy_mj"] != "measured"
            got.update(latency_ms=float(latency), energy_mj=None if missing else float(energy_mj),
                       energy_unavailable=costs.provenance["energy_mj"] if missing else None)
        return got


def board_clocks(remote: RemoteHardware, dvfs_hz: dict[str, int]) -> DvfsSetting:
    """The DyNN's clocks where the agent's board has them all in its tables, else the board's
    reference clocks (a run searched for another platform)."""
    tables = remote.described()["dvfs_hz"]
    platform = remote.platform
    if all(d in platform.domains and hz in tables.get(d, platform.dvfs_hz[d])
           for d, hz in dvfs_hz.items()):
        return DvfsSetting.create(platform, dvfs_hz)
    return DvfsSetting.reference(platform)


def summary(rows: list[dict[str, Any]], device: str, batch: int) -> dict[str, Any]:
    """The front's figures: latency MAPE and Kendall tau, the measured front, the speed-up."""
    predicted = np.array([r["predicted_ms"] for r in rows])
    measured = np.array([r["measured_ms"] for r in rows])
    energy = np.array([r["measured_mj"] if r["measured_mj"] is not None else r["predicted_mj"]
                       for r in rows])
    error = np.array([100.0 - r["top1"] for r in rows])
    front = nondominated(np.stack([error, measured, energy], 1)) if rows else []
    for i, r in enumerate(rows):
        r["nondominated_measured"] = i in front
    speedups = [r["speedup"] for r in rows]
    statics = [(r["static_predicted_ms"], r["static_ms"]) for r in rows
               if r["static_predicted_ms"] is not None]
    return {"device": device, "batch": batch, "measured_at": time.time(),
            "latency_provenance": sorted({r["provenance"].get("latency_ms", "?") for r in rows}),
            "energy_measured": bool(rows) and all(r["measured_mj"] is not None for r in rows),
            "energy_unavailable": next((r["energy_unavailable"] for r in rows
                                        if r["energy_unavailable"]), None),
            "latency_mape_pct": mape(measured, predicted) if rows else None,
            "latency_kendall_tau": kendall_tau(predicted, measured) if len(rows) > 1 else None,
            "nondominated_measured": len(front), "n_dynns": len(rows),
            "static_latency_mape_pct": (mape(np.array([m for _, m in statics]),
                                             np.array([p for p, _ in statics]))
                                        if statics else None),
            "speedup_median": float(np.median(speedups)) if rows else None,
            "speedup_min": min(speedups, default=None), "speedup_max": max(speedups, default=None),
            "all_reproduce_run": all(r["reproduces_run"] for r in rows), "dynns": rows}


def nondominated(F: np.ndarray) -> list[int]:
    """Indices of the rows of F (all minimised) that no other row dominates."""
    return [i for i in range(len(F))
            if not any(np.all(F[j] <= F[i]) and np.any(F[j] < F[i]) for j in range(len(F)))]


def _example(split: ImageTensors, data: Any, device: torch.device) -> torch.Tensor:
    return next(iter(TensorLoader(split, 2, mean=data.mean, std=data.std, device=device)))[0]


@torch.inference_mode()
def _measure(program: torch.jit.ScriptModule, split: ImageTensors, data: Any,
             device: torch.device, batch: int, warmup: int, energy: Any,
             n_exits: int) -> dict[str, Any]:
    """One timed pass of the program over the split (after `warmup` batches): mean latency
    per sample, energy per sample when a sensor exists, and the outcome."""
    batches = list(TensorLoader(split, batch, mean=data.mean, std=data.std, device=device))
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    for x, _ in batches[:warmup]:
        program(x)
    counter = None if isinstance(energy, Unavailable) else energy()
    try:
        sync()
        e0 = counter.read_mj() if counter else 0.0
        t0 = time.perf_counter()
        preds, exits = [], []
        for x, _ in batches:
            p, e = program(x)
            preds.append(p)
            exits.append(e)
        sync()
        seconds = time.perf_counter() - t0
        energy_mj = (counter.read_mj() - e0) / len(split) if counter else None
    finally:
        if counter is not None:
            counter.close()
    labels = torch.cat([y for _, y in batches]).cpu().numpy()
    got = outcome(torch.cat(preds).cpu().numpy(), torch.cat(exits).cpu().numpy(), labels,
                  n_exits)
    return {**got, "latency_ms": 1e3 * seconds / len(split), "energy_mj": energy_mj,
            "energy_unavailable": energy.reason if isinstance(energy, Unavailable) else None}
