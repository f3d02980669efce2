"""Pick the energy sensor of this machine, or say why there is none (never an estimate)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hadas.hardware.measure.counter import EnergyCounter, MeasureError, Unavailable
from hadas.hardware.measure.ina3221 import open_ina3221
from hadas.hardware.measure.nvml import open_nvml
from hadas.hardware.measure.rapl import open_rapl


def open_energy_counter(device: str = "cpu", root: str | Path = "/") -> EnergyCounter | Unavailable:
    """The sensor that sees `device`: INA3221 rails on a Jetson (any device), else NVML for a
    CUDA device, else RAPL for the CPU. Unavailable lists every reason when none works."""
    openers: list[Callable[[], EnergyCounter | Unavailable]] = [lambda: open_ina3221(root)]
    if device.startswith("cuda"):
        index = int(device.split(":")[1]) if ":" in device else 0
        openers.append(lambda: open_nvml(index))
    else:
        openers.append(lambda: open_rapl(root))
    reasons = []
    for opener in openers:
        counter = opener()
        if not isinstance(counter, Unavailable):
            return counter
        reasons.append(counter.reason)
    return Unavailable("; ".join(reasons))


@dataclass(frozen=True)
class SensorOpener:
    """Opens this machine's energy sensor anew for each energy window; `source` names it."""

    device: str
    root: str | Path
    source: str

    def __call__(self) -> EnergyCounter:
        counter = open_energy_counter(self.device, self.root)
        if isinstance(counter, Unavailable):
            raise MeasureError(f"the energy sensor {self.source} went away: {counter.reason}")
        return counter


def energy_source(device: str = "cpu", root: str | Path = "/") -> SensorOpener | Unavailable:
    """An opener for this machine's sensor (probed once now), or why there is none."""
    probe = open_energy_counter(device, root)
    if isinstance(probe, Unavailable):
        return probe
    probe.close()
    return SensorOpener(device, root, probe.source)
