"""Checks of an exported bundle: the program on the evaluation split, the ONNX files against
the torch pieces. Their results go into the manifest, so a bundle says how far it was checked."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hadas.data import ImageTensors, TensorLoader
from hadas.exits import ExitCache, ExitSimulator
from hadas.export.onnx_files import OnnxReport
from hadas.export.pieces import Pieces
from hadas.space import ExitPlan


@torch.no_grad()
def run_program(program: torch.jit.ScriptModule, split: ImageTensors, batch_size: int,
                mean: tuple[float, ...], std: tuple[float, ...],
                device: torch.device) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predictions, exit indices and labels of the program over a split, fed by the loader."""
    loader = TensorLoader(split, batch_size, mean=mean, std=std, device=device)
    preds, exits, labels = [], [], []
    for x, y in loader:
        p, e = program(x)
        preds.append(p.cpu())
        exits.append(e.cpu())
        labels.append(y.cpu())
    return tuple(torch.cat(t).numpy() for t in (preds, exits, labels))  # type: ignore[return-value]


def outcome(pred: np.ndarray, exit_index: np.ndarray, labels: np.ndarray,
            n_exits: int) -> dict[str, Any]:
    """Top-1 (%) and exit rates (final last) of per-sample predictions and exit indices."""
    rates = np.bincount(exit_index, minlength=n_exits + 1) / len(labels)
    return {"top1": float(100.0 * (pred == labels).sum() / len(labels)),
            "exit_rates": [float(r) for r in rates], "n_samples": len(labels)}


def simulated(cache: ExitCache, plan: ExitPlan) -> dict[str, Any]:
    """What the exit simulator says about `plan` on the exit cache (how the run scored it)."""
    sim = ExitSimulator(cache).simulate(plan)
    return {"top1": float(sim.top1), "exit_rates": [float(r) for r in sim.exit_rates],
            "n_samples": cache.n_samples}


def same_outcome(a: dict[str, Any], b: dict[str, Any], tol: float = 1e-9) -> bool:
    return (abs(a["top1"] - b["top1"]) <= tol and len(a["exit_rates"]) == len(b["exit_rates"])
            and all(abs(x - y) <= tol for x, y in zip(a["exit_rates"], b["exit_rates"])))


@torch.no_grad()
def check_onnx(bundle: Path, report: OnnxReport, pieces: Pieces, example: torch.Tensor,
               atol: float = 1e-4) -> str | None:
    """Run every ONNX file with onnxruntime on the features `example` produces at its input,
    and record its largest difference to the torch piece; returns why it could not, or None."""
    if importlib.util.find_spec("onnxruntime") is None:
        return "onnxruntime not installed (pip install \"hadas[export]\"): files not checked"
    import onnxruntime as ort

    feeds = [example]                           # the input of segment i
    for seg in pieces.segments[:-1]:
        feeds.append(seg(feeds[-1]))
    for entry in report.files:
        kind, index = Path(entry["path"]).name.removesuffix(".onnx").split("_")
        i = int(index)
        module, x = ((pieces.segments[i], feeds[i]) if kind == "segment"
                     else (pieces.heads[i], feeds[i + 1]))
        ref = module(x)
        refs = [t.cpu().numpy() for t in (ref if isinstance(ref, tuple) else (ref,))]
        sess = ort.InferenceSession(str(bundle / entry["path"]), providers=["CPUExecutionProvider"])
        outs = sess.run(None, {sess.get_inputs()[0].name: x.cpu().numpy()})
        diff = max(float(np.abs(o - r).max()) for o, r in zip(outs, refs))
        entry["onnxruntime_max_abs_diff"] = diff
        entry["onnxruntime_matches"] = bool(diff <= atol)
    return None
