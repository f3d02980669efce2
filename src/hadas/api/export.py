"""Export one DyNN of a finished search run as a deployable bundle (`hadas export`)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hadas.export import write_bundle
from hadas.model import resolve_device


def export_dynn(run_dir: str | Path, pick: int, out: str | Path, device: str = "cpu",
                report: Callable[[str], None] = lambda s: None,
                progress: bool = False) -> dict[str, Any]:
    """Write `program.pt`, ONNX pieces, `manifest.json` and `README.md` for archive entry `pick`
    (0-based) of the run in `run_dir` into `out`; returns the manifest."""
    return write_bundle(run_dir, pick, out, resolve_device(device), report, progress)
