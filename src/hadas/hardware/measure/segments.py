"""Latency and energy of every segment of a DyNN, each on the input it really gets, in the
form `hadas export` deploys it (traced to TorchScript).

Backbone segments run in a chain; an exit segment gets the output of the backbone segment
before it. Energy per inference = counter energy over a window of repeated runs / run count.
"""
from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from hadas.hardware.measure.counter import PROVENANCE, EnergyCounter, Unavailable
from hadas.hardware.measure.latency import time_module


@dataclass(frozen=True)
class SegmentMeasurement:
    """One segment's measured cost; energy is None exactly when `energy_unavailable` says why."""

    kind: str
    index: int
    latency_ms: float
    latency_ms_spread: float
    energy_mj: float | None
    energy_unavailable: str | None
    provenance: str = PROVENANCE

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def segment_inputs(segments: Sequence[tuple[str, int, Any]], x: Any) -> list[Any]:
    """The input each segment sees in a full forward pass."""
    import torch

    inputs = []
    with torch.inference_mode():
        for kind, _, module in segments:
            inputs.append(x)
            if kind == "backbone":
                x = module(x)
    return inputs


def window_energy_mj(module: Any, x: Any, counter: EnergyCounter, window_s: float) -> float:
    """Mean energy per run of `module(x)` over a window of at least `window_s` seconds."""
    import torch

    sync = (lambda: torch.cuda.synchronize(x.device)) if x.device.type == "cuda" else (lambda: None)
    with torch.inference_mode():
        sync()
        e0, t0, runs = counter.read_mj(), time.monotonic(), 0
        while time.monotonic() - t0 < window_s or runs == 0:
            module(x)
            runs += 1
            if runs % 8 == 0:
                sync()
        sync()
        return (counter.read_mj() - e0) / runs


EnergySource = Callable[[], EnergyCounter] | Unavailable


def deployed(module: Any, x: Any) -> Any:
    """The module as `hadas export` deploys it: traced to TorchScript. At batch 1 the eager
    module's Python dispatch costs about a third more on a CPU (measured: the tiny supernet's
    largest DyNN, 5.8 ms eager against 3.8 ms traced over its segments), which a profile
    must not teach a model the deployed program never pays."""
    import torch

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python
        return torch.jit.trace(module, (x.clone(),), check_trace=False)


def measure_segments(segments: Sequence[tuple[str, int, Any]], x: Any, energy: EnergySource,
                     repeats: int = 50, warmup: int = 10,
                     window_s: float | None = None) -> list[SegmentMeasurement]:
    """Measure `(kind, index, module)` segments in execution order.

    `energy` opens a counter; it is opened only around each energy window, so a sampler
    thread never runs while latency is timed. `window_s` defaults to the sensor's minimum."""
    out = []
    for (kind, index, module), seg_x in zip(segments, segment_inputs(segments, x)):
        module = deployed(module, seg_x)
        lat = time_module(module, seg_x, repeats, warmup)
        energy_mj, reason = None, None
        if isinstance(energy, Unavailable):
            reason = energy.reason
        else:
            counter = energy()
            try:
                energy_mj = window_energy_mj(module, seg_x, counter,
                                             window_s or counter.min_window_s)
            finally:
                counter.close()
        out.append(SegmentMeasurement(kind, index, lat.latency_ms, lat.latency_ms_spread,
                                      energy_mj, reason))
    return out
