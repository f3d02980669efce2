"""Intel/AMD RAPL through powercap: cumulative µJ per package, wrapping at max_energy_range_uj."""
from __future__ import annotations

import re
from pathlib import Path

from hadas.hardware.measure.counter import MeasureError, Unavailable

POWERCAP = "sys/class/powercap"
_PACKAGE = re.compile(r"intel-rapl:\d+$")  # packages only: sub-zones are parts of them


class RaplCounter:
    """Sum of the package zones' energy since opening, robust to counter wraparound."""

    min_window_s = 0.5

    def __init__(self, zones: list[Path]):
        self.zones = zones
        self.range_uj = [int((z / "max_energy_range_uj").read_text()) for z in zones]
        self.last_uj = [self._raw(z) for z in zones]
        self.total_uj = 0
        names = [(z / "name").read_text().strip() if (z / "name").exists() else z.name
                 for z in zones]
        self.source = "rapl: " + " + ".join(names)

    @staticmethod
    def _raw(zone: Path) -> int:
        try:
            return int((zone / "energy_uj").read_text())
        except OSError as exc:
            raise MeasureError(f"rapl: cannot read {zone / 'energy_uj'}: "
                               f"{exc.strerror or exc}") from None

    def read_mj(self) -> float:
        """Must be called at least once per wrap period (minutes at hundreds of watts)."""
        for i, zone in enumerate(self.zones):
            now = self._raw(zone)
            delta = now - self.last_uj[i]
            if delta < 0:  # wrapped past max_energy_range_uj back to 0
                delta += self.range_uj[i]
            self.total_uj += delta
            self.last_uj[i] = now
        return self.total_uj / 1000.0

    def close(self) -> None:
        """Nothing to release."""


def open_rapl(root: str | Path = "/") -> RaplCounter | Unavailable:
    base = Path(root) / POWERCAP
    zones = sorted(z for z in base.glob("intel-rapl:*") if _PACKAGE.match(z.name))
    if not zones:
        return Unavailable(f"rapl: no package zone under /{POWERCAP} (not x86, or a VM)")
    try:
        (zones[0] / "energy_uj").read_text()
    except PermissionError:
        return Unavailable(f"rapl: {zones[0] / 'energy_uj'} is root-only (CVE-2020-8694 fix); "
                           "run as root or grant read access with a udev rule")
    try:
        return RaplCounter(zones)
    except (OSError, ValueError, MeasureError) as exc:
        return Unavailable(f"rapl: {zones[0]} is not readable ({exc})")
