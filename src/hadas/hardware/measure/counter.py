"""What every energy backend offers, and what a missing one reports instead of a number."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from hadas.errors import HadasError

PROVENANCE = "measured"


class MeasureError(HadasError):
    """A measurement could not be taken (sensor vanished, module failed to run)."""


class EnergyCounter(Protocol):
    """A cumulative energy reading since the counter was opened."""

    source: str           # which sensor and boundary, e.g. "ina3221: VDD_IN"
    min_window_s: float   # shortest window that the sensor's refresh period resolves

    def read_mj(self) -> float:
        """Energy in mJ since the counter was opened."""

    def close(self) -> None:
        """Stop sampling and release the sensor."""


@dataclass(frozen=True)
class Unavailable:
    """No readable energy sensor; `reason` says what was tried and why it failed."""

    reason: str
