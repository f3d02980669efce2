"""`MeasuredHardware`: segment costs measured on a device during the search.

The device is this machine (`hadas.api.board.BoardMeasurer`: CPU or CUDA GPU, the real
extracted segments and exit heads at batch 1, each on the input it really receives) or a board
behind the device agent (`RemoteHardware`). Both answer `measure(backbone, plan, dvfs, repeats)`
with per-segment rows (`latency_ms`, `latency_ms_spread`, `energy_mj` or why there is none).

A backbone is measured once per DVFS point, cut at *every* candidate exit position: any exit
plan's backbone segments are sums of those pieces, and its exit heads are among them, so the
IOE scores every plan of a backbone without measuring again. Each measurement goes to the run
database as soon as it exists (content-addressed by the device's identity), so a rerun after a
crash measures nothing twice. A piece whose spread exceeds `max_spread` of its median is
measured again once; if it stays noisy it is counted and flagged in the stored rows.

Energy is measured where the device has a sensor. Where it has none, it comes from the named
hardware model, and the provenance says so: `modelled (local)`, never a silent estimate.
Clocks the device cannot set are fixed at the platform's reference point (`dvfs_hz` holds one
clock for them), and asking for another one is an error.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from hadas.digest import json_digest
from hadas.errors import ConfigError
from hadas.hardware import DvfsSetting, HardwareModel, SegmentCosts
from hadas.hardware.analytical import ArrayLike
from hadas.hardware.platform import Platform
from hadas.space import Backbone, ExitPlan, Skeleton, candidate_positions

MEASURED = "measured"


class Device(Protocol):
    """What measures: `BoardMeasurer` on this machine, `RemoteHardware` on a board."""

    def measure(self, backbone: Backbone, plan: ExitPlan, dvfs: Mapping[str, int],
                repeats: int) -> dict[str, Any]: ...


class MeasurementStore(Protocol):
    """Where measurements are kept (the run database)."""

    def get_evaluation(self, evaluator: str, part: Any) -> dict[str, Any] | None: ...

    def put_evaluation(self, evaluator: str, part: Any, value: dict[str, Any],
                       seconds: float) -> None: ...


class MeasuredHardware:
    """A `CostModel` (and `GridCostModel`) whose latency, and energy where a sensor exists, is
    measured on `device`; `model` names the platform and costs energy without a sensor."""

    def __init__(self, device: Device, device_identity: Mapping[str, Any],
                 settable: Mapping[str, Sequence[int]], model: HardwareModel,
                 first_exit_block: int, store: MeasurementStore | None = None,
                 repeats: int = 20, max_spread: float = 0.25):
        self.device, self.model, self.store = device, model, store
        self.first_exit_block, self.repeats, self.max_spread = first_exit_block, repeats, max_spread
        reference = model.platform.reference_hz(model.mode)
        # the clocks the search may choose: the device's own tables, else the reference point
        self.dvfs_hz: Mapping[str, tuple[int, ...]] = {
            d: tuple(settable[d]) if settable.get(d) else (reference[d],)
            for d in model.platform.domains}
        self.settable = tuple(d for d in model.platform.domains if settable.get(d))
        self._identity = {"backend": MEASURED, "device": dict(device_identity),
                          "settable": {d: list(self.dvfs_hz[d]) for d in self.settable},
                          "repeats": repeats, "max_spread": max_spread,
                          "first_exit_block": first_exit_block, "energy_model": model.identity}
        self.key = json_digest(self._identity)
        self.fingerprint = "measure@" + self.key  # the run database's name for its rows
        self.counts = {"measured": 0, "reused": 0, "noisy": 0}
        # (backbone, clocks) -> rows; a plan's costs are composed from them on every call
        self._pieces: dict[tuple[Backbone, tuple[tuple[str, int], ...]],
                           list[dict[str, Any]]] = {}

    # -- CostModel -----------------------------------------------------------------------------
    @property
    def platform(self) -> Platform:
        return self.model.platform

    @property
    def mode(self) -> str | None:
        """The power mode of the model (whose reference clocks label fixed clocks)."""
        return self.model.mode

    @property
    def identity(self) -> dict[str, Any]:
        return self._identity

    @property
    def clocks_note(self) -> str | None:
        """What the search cannot change on this device, or None."""
        fixed = [d for d in self.platform.domains if d not in self.settable]
        if not fixed:
            return None
        return (f"clocks of {', '.join(fixed)} cannot be set on this device: the DVFS genes "
                "are fixed at " + ", ".join(f"{d}={self.dvfs_hz[d][0]}" for d in fixed)
                + " Hz (a label: the device runs at whatever clock it has)")

    def segment_costs(self, skeleton: Skeleton, plan: ExitPlan,
                      dvfs: DvfsSetting | None = None) -> SegmentCosts:
        dvfs = dvfs or DvfsSetting.reference(self.platform, self.model.mode)
        for d, hz in dvfs.freq_hz:
            if hz not in self.dvfs_hz[d]:
                raise ConfigError(f"dvfs.{d}", f"{hz} Hz cannot be set on this device",
                                  self.dvfs_hz[d])
        pieces = self.pieces(skeleton, {d: dvfs[d] for d in self.settable})
        return self._compose(skeleton, plan, pieces, dvfs)

    def costs_grid(self, skeleton: Skeleton, plan: ExitPlan, cpu_hz: ArrayLike = None,
                   gpu_hz: ArrayLike = None, emc_hz: ArrayLike = None) -> SegmentCosts:
        """Every combination of the given clocks (None: all this device allows), measured
        point by point; points in C order over the platform's domains."""
        given = {"cpu": cpu_hz, "gpu": gpu_hz, "emc": emc_hz}
        axes = [np.atleast_1d(np.asarray(self.dvfs_hz[d] if given.get(d) is None else given[d]))
                for d in self.platform.domains]
        points = [dict(zip(self.platform.domains, (int(v) for v in p)))
                  for p in np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(axes))]
        costs = [self.segment_costs(skeleton, plan, DvfsSetting.create(self.platform, p))
                 for p in points]
        return SegmentCosts(costs[0].kinds, costs[0].indices,
                            np.stack([c.latency_ms for c in costs], 1),
                            np.stack([c.energy_mj for c in costs], 1),
                            {d: np.array([p[d] for p in points]) for d in self.platform.domains},
                            self.platform.name, costs[0].provenance)

    # -- measuring -----------------------------------------------------------------------------
    def pieces(self, skeleton: Skeleton, clocks: Mapping[str, int]) -> list[dict[str, Any]]:
        """The measured rows of the backbone cut at every candidate exit (`segments()` order
        of that plan): from memory, the store, or the device (then stored at once)."""
        backbone = skeleton.backbone
        key = (backbone, tuple(sorted(clocks.items())))
        if key in self._pieces:
            return self._pieces[key]
        every = ExitPlan(tuple(candidate_positions(skeleton.n_blocks, self.first_exit_block)))
        part = {"backbone": backbone.to_dict(), "exits": list(every.positions),
                "dvfs": dict(clocks)}
        stored = self.store.get_evaluation(self.fingerprint, part) if self.store else None
        if stored is not None:
            self.counts["reused"] += 1
            rows: list[dict[str, Any]] = stored["segments"]
        else:
            rows = self._measure(backbone, every, clocks)
            if self.store is not None:
                self.store.put_evaluation(self.fingerprint, part, {"segments": rows},
                                          sum(r["latency_ms"] for r in rows) * self.repeats / 1e3)
            self.counts["measured"] += 1
        self._pieces[key] = rows
        return rows

    def _measure(self, backbone: Backbone, plan: ExitPlan, clocks: Mapping[str, int]
                 ) -> list[dict[str, Any]]:
        rows = self.device.measure(backbone, plan, clocks, self.repeats)["segments"]
        if any(self._noisy(r) for r in rows):  # once more; keep the steadier of the two
            again = self.device.measure(backbone, plan, clocks, self.repeats)["segments"]
            rows = [min(a, b, key=lambda r: r["latency_ms_spread"] / r["latency_ms"])
                    for a, b in zip(rows, again)]
        out = []
        for r in rows:
            noisy = self._noisy(r)
            self.counts["noisy"] += noisy
            out.append({k: r[k] for k in ("kind", "index", "latency_ms", "latency_ms_spread",
                                          "energy_mj", "energy_unavailable")} | {"noisy": noisy})
        return out

    def _noisy(self, row: Mapping[str, Any]) -> bool:
        return bool(row["latency_ms_spread"] > self.max_spread * row["latency_ms"])

    def _compose(self, skeleton: Skeleton, plan: ExitPlan, pieces: list[dict[str, Any]],
                 dvfs: DvfsSetting) -> SegmentCosts:
        """A plan's segments from the pieces: a backbone segment is the sum of the backbone
        pieces of its blocks, an exit segment the exit piece at its position."""
        every = candidate_positions(skeleton.n_blocks, self.first_exit_block)
        backbone = [r for r in pieces if r["kind"] == "backbone"]
        exits = {every[r["index"]]: r for r in pieces if r["kind"] == "exit"}
        bounds = [0, *(every.index(p) + 1 for p in plan.positions), len(backbone)]
        rows: list[tuple[str, int, list[dict[str, Any]]]] = []
        for i, (a, b) in enumerate(zip(bounds, bounds[1:])):
            rows.append(("backbone", i, backbone[a:b]))
            if i < len(plan.positions):
                rows.append(("exit", i, [exits[plan.positions[i]]]))
        latency = np.array([sum(r["latency_ms"] for r in rs) for _, _, rs in rows])
        provenance = {"latency_ms": MEASURED}
        if any(r["energy_mj"] is None for r in pieces):  # no sensor: the model's, labelled so
            energy = np.asarray(self.model.segment_costs(skeleton, plan, dvfs).energy_mj,
                                dtype=float)
            provenance["energy_mj"] = (f"{self.platform.provenance('energy')} "
                                       f"({self.platform.name})")
        else:
            energy = np.array([sum(r["energy_mj"] for r in rs) for _, _, rs in rows])
            provenance["energy_mj"] = MEASURED
        return SegmentCosts(tuple(k for k, _, _ in rows), tuple(i for _, i, _ in rows),
                            latency, energy, {d: np.asarray(hz) for d, hz in dvfs.freq_hz},
                            self.platform.name, provenance)
