"""Write a deployable bundle for one DyNN of a finished search run.

The bundle is built in a staging folder beside `out` and renamed into place when whole, so an
interrupted export never leaves a half bundle behind a manifest.
"""
from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from hadas.atomic import write_atomic
from hadas.data import TensorLoader
from hadas.errors import ConfigError
from hadas.exits import DEPLOYABLE
from hadas.space import ExitPlan
from hadas.space.policies import POLICIES
from hadas.export.manifest import (
    SCHEMA,
    dvfs_block,
    file_list,
    input_spec,
    readme,
    sha256_file,
)
from hadas.export.onnx_files import export_onnx
from hadas.versions import package_versions
from hadas.export.pieces import split_network
from hadas.export.program import build_program, check_exportable
from hadas.export.source import ExportError, PickedDynn, pick_dynn, rebuild
from hadas.export.verify import (
    check_onnx,
    outcome,
    run_program,
    same_outcome,
    simulated,
)

def write_bundle(run_dir: str | Path, pick: int, out: str | Path, device: torch.device,
                 say: Callable[[str], None] = lambda s: None,
                 progress: bool = False) -> dict[str, Any]:
    """Export archive entry `pick` of the run in `run_dir` into `out`; returns the manifest."""
    picked = pick_dynn(run_dir, pick)
    plan = picked.plan
    if plan.policy not in DEPLOYABLE:
        raise ConfigError("exits.policy", f"DyNN {pick} uses {plan.policy!r}, which needs the "
                          "labels (a bound, not a deployable policy): it cannot be exported",
                          DEPLOYABLE)
    out = Path(out)
    _check_target(out)
    say(f"rebuilding DyNN {pick} of {picked.run_dir} (exit bank in {picked.exits_dir})")
    art, data = rebuild(picked, device, progress)
    if art.trained_now:
        say("warning: the run's exit bank was not found and was trained again; the numbers "
               "below say whether it reproduces the run")
    pieces = split_network(art.network, plan)
    check_exportable(plan, pieces)
    split = data.split(picked.cfg.data.eval_split)
    example = next(iter(TensorLoader(split, 2, mean=data.mean, std=data.std, device=device)))[0]
    program = build_program(pieces, plan, example, data.mean, data.std)

    stage = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=FutureWarning)  # torch.jit "deprecated"
            torch.jit.save(program, str(stage / "program.pt"))
            saved = torch.jit.load(str(stage / "program.pt"), map_location=device)
        say("checking program.pt on the evaluation split")
        got = outcome(*run_program(saved, split, picked.cfg.evaluation.batch_size, data.mean,
                                   data.std, device), len(plan.positions))
        say("exporting ONNX segments and heads")
        onnx = export_onnx(pieces, example, stage)
        unchecked = check_onnx(stage, onnx, pieces, example) if onnx.files else None
        manifest = _manifest(picked, art.key, art.cache.n_samples, plan, split.images.shape[1:],
                             data.mean, data.std, got, simulated(art.cache, plan), onnx.to_dict(),
                             unchecked, str(device))
        (stage / "README.md").write_text(readme(manifest))
        manifest["files"] = file_list(stage)
        write_atomic(stage / "manifest.json", lambda f: json.dump(manifest, f, indent=1),
                     binary=False)
        _swap_in(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return manifest


def _check_target(out: Path) -> None:
    """`out` may be missing, empty, or an earlier bundle (replaced); anything else is refused."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir())
                                              and not (out / "manifest.json").is_file())):
        raise ExportError(f"{out} exists and is not an earlier bundle (no manifest.json): "
                          "choose another --out or empty it")


def _swap_in(stage: Path, out: Path) -> None:
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)
    stage.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def _manifest(picked: PickedDynn, bank_key: str, n_eval: int, plan: ExitPlan,
              chw: tuple[int, ...], mean: tuple[float, ...], std: tuple[float, ...],
              program: dict[str, Any], exit_cache: dict[str, Any], onnx: dict[str, Any],
              unchecked: str | None, device: str) -> dict[str, Any]:
    result, dynn = picked.result, picked.entry.dynn
    run_numbers = {"top1": dynn.top1, "exit_rates": list(dynn.exit_rates)}
    dvfs = dvfs_block(picked.dvfs_hz)
    c, h, w = chw
    if unchecked:
        onnx["onnxruntime_check"] = unchecked
    return {
        "schema": SCHEMA,
        "run": {"dir": str(picked.run_dir.resolve()), "name": result["name"],
                "mode": result["mode"], "seed": result["seed"],
                "config_fingerprint": result["config_fingerprint"], "pick": picked.pick,
                "generation": picked.entry.generation},
        "platform": result["platform"],
        "hardware": result.get("hardware"),
        "arch": picked.backbone.to_dict(),
        "exit_plan": {**plan.to_dict(), "thresholds": list(plan.thresholds),
                      "rule": POLICIES.get(plan.policy).rule},
        "dvfs": {"hz": dvfs["hz"], "mhz": dvfs["mhz"]},
        "apply_dvfs": dvfs["apply"],
        "expected": {"top1": dynn.top1, "latency_ms": dynn.latency_ms,
                     "energy_mj": dynn.energy_mj, "exit_rates": list(dynn.exit_rates),
                     "exit_accuracy": list(dynn.exit_accuracy),
                     "provenance": dict(dynn.provenance),
                     "top1_source": f"exit simulator over the exit cache of the "
                                    f"{picked.cfg.data.eval_split} split ({n_eval} images)"},
        "supernet": {"checkpoint": str(picked.checkpoint), "sha256": sha256_file(picked.checkpoint),
                     "exits_dir": str(picked.exits_dir), "exit_bank": bank_key},
        "input": input_spec((c, h, w), picked.backbone.resolution, mean, std),
        "program": {"file": "program.pt", "format": "TorchScript (torch.jit.load)",
                    "traced_on": device, "methods": ["forward(x)", "from_uint8(images)"]},
        "onnx": onnx,
        "verification": {"program_on_eval_split": program, "exit_cache": exit_cache,
                         "run": run_numbers, "program_matches_run": same_outcome(program,
                                                                                 run_numbers)},
        "software": package_versions("hadas", "torch", "onnx", "onnxscript", "onnxruntime"),
    }
