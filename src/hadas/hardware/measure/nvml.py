"""NVIDIA GPU energy through NVML's total-energy counter (mJ since driver load; Volta and newer).

pynvml (package nvidia-ml-py) is optional and imported only here. The counter advances about
every 100 ms, so windows must last at least a second (PLATFORMS.md §6).
"""
from __future__ import annotations

from typing import Any

from hadas.hardware.measure.counter import Unavailable


class NvmlCounter:
    """Energy of one GPU since opening, from nvmlDeviceGetTotalEnergyConsumption."""

    min_window_s = 1.0

    def __init__(self, nvml: Any, index: int):
        self.nvml = nvml
        self.handle = nvml.nvmlDeviceGetHandleByIndex(index)
        name = nvml.nvmlDeviceGetName(self.handle)
        self.source = f"nvml: GPU {index} ({name.decode() if isinstance(name, bytes) else name})"
        self.start_mj = nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)

    def read_mj(self) -> float:
        return float(self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle) - self.start_mj)

    def close(self) -> None:
        self.nvml.nvmlShutdown()


def open_nvml(index: int = 0) -> NvmlCounter | Unavailable:
    try:
        import pynvml
    except ImportError:
        return Unavailable("nvml: pynvml is not installed (pip install nvidia-ml-py, or hadas[gpu])")
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError subclasses: no driver, no library
        return Unavailable(f"nvml: cannot initialise ({exc})")
    try:
        return NvmlCounter(pynvml, index)
    except Exception as exc:  # NVMLError_NotSupported on pre-Volta GPUs and Tegra before Thor
        pynvml.nvmlShutdown()
        return Unavailable(f"nvml: GPU {index} has no readable energy counter ({exc})")
