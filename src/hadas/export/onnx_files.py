"""ONNX files of a DyNN's pieces (one per backbone segment, one per exit head), batch axis
dynamic, for TensorRT or onnxruntime users who run the exit logic themselves.

torch 2.14's default exporter is the dynamo one (`torch.onnx.export(..., dynamo=True)`), which
needs `onnx` and `onnxscript` (`pip install "hadas[export]"`). Where it is missing or fails on a
piece, the deprecated TorchScript exporter (`dynamo=False`) is tried; the result records which
exporter wrote each file, or why none could.
"""
from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hadas.export.pieces import HeadOutputs, Pieces, SegmentModule

OPSET = 18


@dataclass
class OnnxReport:
    """What was written (paths relative to the bundle), by which exporter, or why not."""

    status: str = "ok"                      # ok | partial | unavailable
    files: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "opset": OPSET, "batch_axis": "dynamic (axis 0)",
                "files": self.files, "reasons": self.reasons}


def dynamo_available() -> str | None:
    """None when the dynamo exporter can run, else what is missing."""
    missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    return f"{' and '.join(missing)} not installed (pip install \"hadas[export]\")" if missing else None


def export_piece(module: nn.Module, example: torch.Tensor, path: Path, input_name: str,
                 output_names: list[str], dynamo: bool) -> None:
    """One module to one .onnx file with a dynamic batch axis."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation and tracer chatter
        if dynamo:
            torch.onnx.export(module, (example,), str(path), input_names=[input_name],
                              output_names=output_names, opset_version=OPSET, dynamo=True,
                              dynamic_shapes=({0: torch.export.Dim("batch")},),
                              external_data=False, verbose=False)
        else:
            axes = {n: {0: "batch"} for n in (input_name, *output_names)}
            torch.onnx.export(module, (example,), str(path), input_names=[input_name],
                              output_names=output_names, opset_version=OPSET, dynamo=False,
                              dynamic_axes=axes)


PieceSpec = tuple[str, SegmentModule | HeadOutputs, str, list[str], int]


def piece_specs(pieces: Pieces) -> list[PieceSpec]:
    """(file name, module, input name, output names, index of the segment feeding it)."""
    specs: list[PieceSpec] = []
    last = len(pieces.segments) - 1
    for i, seg in enumerate(pieces.segments):
        specs.append((f"segment_{i}.onnx", seg, "images" if i == 0 else "features_in",
                      ["logits"] if i == last else ["features"], i))
        if i < len(pieces.heads):
            outs = ["logits", "confidence"] if pieces.heads[i].has_confidence else ["logits"]
            specs.append((f"exit_{i}.onnx", pieces.heads[i], "features", outs, i))
    return specs


def export_onnx(pieces: Pieces, example: torch.Tensor, folder: Path,
                prefix: str = "onnx") -> OnnxReport:
    """Every segment and head of `pieces` into `folder / prefix`; never raises for the exporter."""
    report = OnnxReport()
    missing = dynamo_available()
    out = folder / prefix
    out.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        feeds = [example]                       # the input of segment i is feeds[i]
        for seg in pieces.segments[:-1]:
            feeds.append(seg(feeds[-1]))
        features = feeds[1:]                    # the output of segment i feeds exit head i
    for name, module, input_name, output_names, i in piece_specs(pieces):
        x = feeds[i] if name.startswith("segment") else features[i]
        tries = ([] if missing else [True]) + [False]
        errors = []
        for dynamo in tries:
            try:
                export_piece(module, x, out / name, input_name, output_names, dynamo)
            except Exception as exc:  # noqa: BLE001 - recorded, the bundle says why
                errors.append(f"{'dynamo' if dynamo else 'torchscript'} exporter: "
                              f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
                continue
            report.files.append({"path": f"{prefix}/{name}", "input": input_name,
                                 "outputs": output_names,
                                 "exporter": "dynamo" if dynamo else "torchscript (legacy)",
                                 "describes": module.describe()})
            break
        else:
            report.reasons.append(f"{name}: " + "; ".join(errors))
    if missing:
        report.reasons.insert(0, f"dynamo exporter unavailable: {missing}")
    if not report.files:
        report.status = "unavailable"
    elif len(report.files) < len(piece_specs(pieces)):
        report.status = "partial"
    return report
