"""Jetson INA3221 power rails: iio driver (JetPack 4), hwmon driver (JetPack 5+); PLATFORMS.md §6.

Power is V x I (mV x mA / 1000 = mW) for both drivers. With a board-input rail (VDD_IN, POM_5V_IN)
that rail alone is the total; without one (AGX Xavier, AGX Orin) the rails are summed, and the
source string names exactly which rails form the boundary.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from hadas.hardware.measure.counter import MeasureError, Unavailable
from hadas.hardware.measure.sampler import PowerSampler

IIO_GLOBS = ("sys/bus/i2c/drivers/ina3221x/*/iio:device*",
             "sys/devices/3160000.i2c/i2c-0/*/iio_device")  # L4T 28 (TX2)
HWMON_GLOB = "sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*"
INPUT_RAILS = ("VDD_IN", "POM_5V_IN")


@dataclass(frozen=True)
class Rail:
    label: str
    volt_mv: Path
    curr_ma: Path

    def power_mw(self) -> float:
        try:
            return int(self.volt_mv.read_text()) * int(self.curr_ma.read_text()) / 1000.0
        except (OSError, ValueError) as exc:
            raise MeasureError(f"ina3221: cannot read rail {self.label}: {exc}") from None


def find_rails(root: str | Path = "/") -> list[Rail]:
    """Every labelled channel of every INA3221 on the board (unlabelled ones are unconnected)."""
    root = Path(root)
    rails = []
    for pattern in IIO_GLOBS:
        for dev in sorted(root.glob(pattern)):
            for label_file in sorted(dev.glob("rail_name_*")):
                ch = label_file.name.rsplit("_", 1)[1]
                rails.append(Rail(label_file.read_text().strip(), dev / f"in_voltage{ch}_input",
                                  dev / f"in_current{ch}_input"))
    for dev in sorted(root.glob(HWMON_GLOB)):
        for label_file in sorted(dev.glob("in*_label")):
            n = re.fullmatch(r"in(\d+)_label", label_file.name)
            if n and (dev / f"curr{n[1]}_input").exists():
                rails.append(Rail(label_file.read_text().strip(), dev / f"in{n[1]}_input",
                                  dev / f"curr{n[1]}_input"))
    return rails


def select_rails(rails: list[Rail], names: list[str] | None = None) -> list[Rail]:
    """The named rails; by default the board-input rail if there is one, else all rails."""
    if names:
        by_label = {r.label: r for r in rails}
        missing = [n for n in names if n not in by_label]
        if missing:
            raise MeasureError(f"ina3221: no rail {missing[0]!r} (rails: {', '.join(by_label)})")
        return [by_label[n] for n in names]
    inputs = [r for r in rails if r.label in INPUT_RAILS]
    return inputs[:1] or rails


def open_ina3221(root: str | Path = "/", rails: list[str] | None = None,
                 interval_s: float = 0.005) -> PowerSampler | Unavailable:
    """A sampler over the chosen rails, or why there is none."""
    found = find_rails(root)
    if not found:
        return Unavailable("ina3221: no power rails under /sys/bus/i2c/drivers/ina3221{,x} "
                           "(not a Jetson, or a board without INA3221)")
    chosen = select_rails(found, rails)
    try:
        for rail in chosen:
            rail.power_mw()
    except MeasureError as exc:
        return Unavailable(str(exc))
    labels = "+".join(r.label for r in chosen)
    return PowerSampler(lambda: sum(r.power_mw() for r in chosen), interval_s,
                        source=f"ina3221: {labels}", min_window_s=1.0)
