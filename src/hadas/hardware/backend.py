"""The hardware protocol: what the search asks of a cost backend, whichever it is.

- `HardwareModel`: the analytical (or calibrated) model of a platform, costs at any clocks;
- `RemoteHardware`: a device agent that measures on its board, setting the clocks per request;
- a measured backend on this machine plugs in here too (the measured-loop issue).

All of them pass one contract suite (tests/test_hardware_backends.py). A backend that can cost
a whole DVFS grid in one call also satisfies `GridCostModel` (the IOE's exact DVFS needs it).
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from hadas.hardware.analytical import ArrayLike as Clocks, SegmentCosts
from hadas.hardware.clocks import DvfsSetting
from hadas.hardware.platform import Platform
from hadas.space.exits import ExitPlan
from hadas.space.skeleton import Skeleton


@runtime_checkable
class CostModel(Protocol):
    """Latency and energy per segment of a DyNN at one DVFS setting, with provenance."""

    @property
    def platform(self) -> Platform: ...

    @property
    def identity(self) -> dict[str, Any]:
        """Everything its costs depend on besides the DyNN and the clocks (JSON): part of
        every evaluation's fingerprint, so a result is reused only by the same backend."""
        ...

    @property
    def key(self) -> str: ...

    def segment_costs(self, skeleton: Skeleton, plan: ExitPlan,
                      dvfs: DvfsSetting | None = None) -> SegmentCosts: ...


@runtime_checkable
class GridCostModel(CostModel, Protocol):
    """A backend that costs every combination of given clocks in one call."""

    def costs_grid(self, skeleton: Skeleton, plan: ExitPlan, cpu_hz: Clocks = None,
                   gpu_hz: Clocks = None, emc_hz: Clocks = None) -> SegmentCosts: ...
