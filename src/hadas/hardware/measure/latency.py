"""Latency of a PyTorch module on this machine: warm-up, then timed repeats (median and spread).

torch is imported lazily: the rest of `hardware` must work without it.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

from hadas.hardware.measure.counter import PROVENANCE


@dataclass(frozen=True)
class LatencyStats:
    """Median latency and its spread (interquartile range) over `repeats` timed runs."""

    latency_ms: float
    latency_ms_spread: float
    repeats: int
    device: str
    provenance: str = PROVENANCE


def summarize(times_ms: list[float], device: str) -> LatencyStats:
    spread = 0.0
    if len(times_ms) >= 2:
        q1, _, q3 = statistics.quantiles(times_ms, n=4, method="inclusive")
        spread = q3 - q1
    return LatencyStats(statistics.median(times_ms), spread, len(times_ms), device)


def time_module(module: Any, x: Any, repeats: int = 50, warmup: int = 10) -> LatencyStats:
    """Time `module(x)` at batch size of `x` on the device `x` lives on.

    CPU: wall clock per call. CUDA: CUDA events around each call, read after one synchronize."""
    import torch

    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats}, {warmup}")
    module.eval()
    with torch.inference_mode():
        for _ in range(warmup):
            module(x)
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
            events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                      for _ in range(repeats)]
            for start, end in events:
                start.record()
                module(x)
                end.record()
            torch.cuda.synchronize(x.device)
            times_ms = [start.elapsed_time(end) for start, end in events]
        else:
            times_ms = []
            for _ in range(repeats):
                t0 = time.perf_counter_ns()
                module(x)
                times_ms.append((time.perf_counter_ns() - t0) / 1e6)
    return summarize(times_ms, str(x.device))
