"""Analytical latency and energy of a DyNN's segments under DVFS, vectorised over clock points.

For every operation l of a segment (`layer_costs`) at clocks f_cpu, f_c (the compute domain:
the GPU on a Jetson, the CPU on `local`) and f_emc:

    peak_c    = N_active x k_flop x s_fp16 x f_c           FLOP/s; N_active = the power mode's
                                                           active cores (TPC gating), k_flop = 2
                                                           (FMA), s_fp16 = fp16 speed-up or 1
    t_comp,l  = 2 MACs_l / (peak_c x eff_kind(l))          eff per kind: conv, dwconv, pwconv,
                                                           linear, in (0, 1]; 0 for memory-only
    bw        = f_emc x n_transfers x bus_bytes x eta_bw   DDR: n_transfers = 2; eta_bw in (0, 1]
    t_mem,l   = bytes_l / bw                               weights + input + output
    t_kern,l  = kernels_l x (t_fixed + c_host / f_cpu)     host-side launch, scales with 1/f_cpu
    t_l       = max(t_comp,l, t_mem,l) + t_kern,l          roofline plus per-kernel overhead

and a segment (one invocation: the unit a deployment runs and synchronises on) costs

    T_seg     = t_invoke + sum_l t_l                       t_invoke: fixed cost per invocation
    E_seg     = (P_static + P_host g_cpu(f_cpu)) T_seg     static and host power over the pass
                + v_c(f_c)^2 sum_l e_kind(l) MACs_l        dynamic energy per operation, own
                + v_emc(f_emc)^2 e_byte sum_l bytes_l      coefficients (not the roofline split)
                + e_invoke + e_kernel sum_l kernels_l      fixed energy per invocation, kernel

    v_d(f)    = V_d(f) / V_d(f_max,d): r_floor for f <= r_knee x f_max,d, then linear to 1
    g_d(f)    = (f / f_max,d) x v_d(f)^2                   dynamic power relative to the max clock

Energy per MAC (e_kind, pJ at V_max; divided by s_fp16 in fp16) and per byte (e_byte) are what
switching costs: C V^2 per operation, independent of how long the operation takes, so the
energy fit does not inherit the latency fit's compute/memory split. The host CPU draws power for
the whole pass (batch-1 inference drives and waits for every kernel); with r_floor = 1 for the
EMC, memory energy is proportional to traffic. latency_ms = 1e3 T_seg, energy_mj = 1e3 E_seg.
The shape of V(f) is the one of the T210 GPU's CVB table (PLATFORMS.md §7: flat at V_min up to
about half the max clock, then close to linear); NVIDIA publishes none for T186/T194/T234, so
each platform file says where its r_floor and r_knee come from.

Coefficients (eff_kind, eta_bw, t_fixed, c_host, t_invoke, P_static, P_host, e_kind, e_byte,
e_invoke, e_kernel)
come from the platform file: assumed until `hadas hw calibrate` fits them, and the results say
which (`modelled` or `calibrated`). `Platform.physical_bounds` keeps them physically possible.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

from hadas.digest import json_digest
from hadas.errors import ConfigError
from hadas.hardware.clocks import DvfsSetting
from hadas.hardware.layer_costs import LayerCost, bytes_per_value, segment_layer_costs
from hadas.hardware.platform import (HOST_DOMAIN, LAYER_KINDS, MEMORY_DOMAIN, Coefficients,
                                     Platform, VoltageCurve)
from hadas.hardware.registry import DEFAULT_PLATFORM, get_platform
from hadas.space.exits import ExitPlan
from hadas.space.skeleton import Skeleton

ArrayLike = float | int | np.ndarray | list | tuple | None
DEFAULT_EXIT_CHANNELS = 224  # HADAS exit head width (HADAS.md §6)


@dataclass(frozen=True)
class LayerTable:
    """Every operation of every segment as flat arrays, segments contiguous in order."""

    segment_kinds: tuple[str, ...]
    segment_indices: tuple[int, ...]
    starts: np.ndarray       # [n_segments] offset of each segment's first operation
    macs: np.ndarray         # [n_ops]
    bytes_moved: np.ndarray  # [n_ops]
    kernels: np.ndarray      # [n_ops]
    kind: np.ndarray         # [n_ops] index into LAYER_KINDS; -1 = memory-only

    def segment_sum(self, values: np.ndarray) -> np.ndarray:
        """Sum [n_ops, ...] per segment -> [n_segments, ...]."""
        return np.add.reduceat(values, self.starts, axis=0)

    @cached_property
    def kind_macs(self) -> np.ndarray:
        """MACs of each layer kind per segment: [n_segments, len(LAYER_KINDS)] (computed once
        per table; tables are cached per DyNN)."""
        onehot = self.kind[:, None] == np.arange(len(LAYER_KINDS))[None, :]
        return self.segment_sum(onehot * self.macs[:, None])


    @classmethod
    def from_units(cls, kinds: Sequence[str], indices: Sequence[int],
                   units: Sequence[Sequence[LayerCost]]) -> "LayerTable":
        """One segment per unit (a DyNN segment, a measured operation, a whole network)."""
        ops = [c for u in units for c in u]
        sizes = [len(u) for u in units]
        index = {k: i for i, k in enumerate(LAYER_KINDS)}
        return cls(tuple(kinds), tuple(indices),
                   np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp),
                   np.array([c.macs for c in ops], dtype=float),
                   np.array([c.bytes_moved for c in ops], dtype=float),
                   np.array([c.kernels for c in ops], dtype=float),
                   np.array([index.get(c.kind, -1) for c in ops], dtype=np.intp))


@lru_cache(maxsize=256)
def layer_table(skeleton: Skeleton, plan: ExitPlan, exit_channels: int,
                precision: str = "fp32") -> LayerTable:
    """The operations of `segments(skeleton, plan, exit_channels)` as arrays (cached)."""
    segs = segment_layer_costs(skeleton, plan, exit_channels, precision)
    return LayerTable.from_units([s.kind for s in segs], [s.index for s in segs],
                                 [s.layers for s in segs])


def voltage_ratio(freq_hz: np.ndarray, max_hz: float, curve: VoltageCurve) -> np.ndarray:
    """v(f) = V(f) / V(f_max), the piecewise-linear voltage curve."""
    x = np.asarray(freq_hz, dtype=float) / max_hz
    span = max(1.0 - curve.knee_ratio, 1e-9)
    return curve.floor_ratio + (1.0 - curve.floor_ratio) * np.clip((x - curve.knee_ratio) / span,
                                                                   0.0, None)


def dynamic_scale(freq_hz: np.ndarray, max_hz: float, curve: VoltageCurve) -> np.ndarray:
    """g(f) = (f / f_max) (V(f) / V(f_max))^2."""
    return np.asarray(freq_hz, dtype=float) / max_hz * voltage_ratio(freq_hz, max_hz, curve) ** 2


@dataclass(frozen=True)
class UnitTimes:
    """Per operation and point: compute time at efficiency 1, memory time at eta_bw = 1 (s)."""

    compute_s: np.ndarray   # [n_ops, n_points]
    memory_s: np.ndarray    # [n_ops, n_points]


@dataclass(frozen=True)
class SegmentCosts:
    """Latency and energy per segment; arrays [n_segments] or [n_segments, n_points]."""

    kinds: tuple[str, ...]           # backbone | exit, in segments() order
    indices: tuple[int, ...]
    latency_ms: np.ndarray
    energy_mj: np.ndarray
    freq_hz: Mapping[str, np.ndarray]  # domain -> clocks (scalar or [n_points])
    platform: str
    provenance: Mapping[str, str]      # latency_ms / energy_mj -> modelled | calibrated

    @property
    def total_latency_ms(self) -> np.ndarray:
        """A full pass through every segment (every exit head evaluated)."""
        return self.latency_ms.sum(axis=0)

    @property
    def total_energy_mj(self) -> np.ndarray:
        return self.energy_mj.sum(axis=0)

    @property
    def n_points(self) -> int:
        return 1 if self.latency_ms.ndim == 1 else self.latency_ms.shape[1]

    def point(self, i: int) -> "SegmentCosts":
        """The costs at one DVFS point of a vectorised result."""
        if self.latency_ms.ndim == 1:
            return self
        return SegmentCosts(self.kinds, self.indices, self.latency_ms[:, i], self.energy_mj[:, i],
                            {d: np.asarray(v)[i] for d, v in self.freq_hz.items()},
                            self.platform, self.provenance)

    def to_dict(self) -> dict:
        """JSON-ready costs of a single DVFS point."""
        if self.latency_ms.ndim != 1:
            raise ValueError("to_dict needs a single DVFS point: use .point(i)")
        return {"platform": self.platform, "provenance": dict(self.provenance),
                "dvfs_hz": {d: int(v) for d, v in self.freq_hz.items()},
                "segments": [{"kind": k, "index": i, "latency_ms": float(lat),
                              "energy_mj": float(en)}
                             for k, i, lat, en in zip(self.kinds, self.indices, self.latency_ms,
                                                      self.energy_mj)],
                "total": {"latency_ms": float(self.total_latency_ms),
                          "energy_mj": float(self.total_energy_mj)}}


class HardwareModel:
    """The analytical model of one platform, power mode, exit-head width and precision."""

    def __init__(self, platform: Platform | str = DEFAULT_PLATFORM,
                 exit_channels: int = DEFAULT_EXIT_CHANNELS, precision: str = "fp32",
                 mode: str | None = None):
        self.platform = get_platform(platform) if isinstance(platform, str) else platform
        self.exit_channels = exit_channels
        bytes_per_value(precision)
        self.precision = precision
        self.mode = self.platform.mode(mode).name
        self.coefficients = self.platform.coefficients

    @property
    def identity(self) -> dict[str, Any]:
        """Everything a result depends on besides the DyNN and the clocks (JSON)."""
        return {"platform": self.platform.fingerprint, "mode": self.mode,
                "precision": self.precision, "exit_channels": self.exit_channels}

    @property
    def key(self) -> str:
        """Content key of `identity`."""
        return json_digest(self.identity)

    @property
    def dvfs_hz(self) -> Mapping[str, tuple[int, ...]]:
        """The clocks a search may choose: every table entry of the platform (a measuring
        backend offers only those its device can set)."""
        return self.platform.dvfs_hz

    def table(self, skeleton: Skeleton, plan: ExitPlan) -> LayerTable:
        return layer_table(skeleton, plan, self.exit_channels, self.precision)

    def segment_costs(self, skeleton: Skeleton, plan: ExitPlan,
                      dvfs: DvfsSetting | None = None) -> SegmentCosts:
        """Costs per segment at one DVFS point (default: the power mode's max clocks)."""
        dvfs = dvfs or DvfsSetting.reference(self.platform, self.mode)
        freqs = dict(dvfs.freq_hz)  # validated against the tables when it was made
        if set(freqs) != set(self.platform.domains):
            raise ConfigError("dvfs", f"needs every domain of {self.platform.name}",
                              self.platform.domains)
        return self._costs(skeleton, plan, {d: np.array([hz], dtype=np.int64)
                                            for d, hz in freqs.items()}).point(0)

    def costs_at(self, skeleton: Skeleton, plan: ExitPlan, cpu_hz: ArrayLike = None,
                 gpu_hz: ArrayLike = None, emc_hz: ArrayLike = None) -> SegmentCosts:
        """Costs per segment at n DVFS points: each clock a scalar or an array [n_points] of
        table entries (None: the power mode's max clock); arrays [n_segments, n_points]."""
        return self._costs(skeleton, plan,
                           self._points({"cpu": cpu_hz, "gpu": gpu_hz, "emc": emc_hz}))

    def _costs(self, skeleton: Skeleton, plan: ExitPlan, freqs: dict[str, np.ndarray]
               ) -> SegmentCosts:
        """Costs at clocks already checked against the tables (domain -> [n_points] Hz)."""
        table = self.table(skeleton, plan)
        latency_s, energy_j = self.evaluate(table, self.coefficients, freqs)
        return SegmentCosts(table.segment_kinds, table.segment_indices, latency_s * 1e3,
                            energy_j * 1e3, freqs, self.platform.name, self._provenance())

    def costs_grid(self, skeleton: Skeleton, plan: ExitPlan, cpu_hz: ArrayLike = None,
                   gpu_hz: ArrayLike = None, emc_hz: ArrayLike = None) -> SegmentCosts:
        """Costs at every combination of the given clocks (None: the domain's whole table);
        points in C order over the platform's domains (cpu slowest, emc fastest)."""
        given = {"cpu": cpu_hz, "gpu": gpu_hz, "emc": emc_hz}
        self._check_domains(given)
        axes = [np.atleast_1d(np.asarray(self.platform.dvfs_hz[d] if given[d] is None
                                         else given[d]))
                for d in self.platform.domains]
        grid = np.meshgrid(*axes, indexing="ij")
        return self.costs_at(skeleton, plan, **{f"{d}_hz": g.ravel()
                                                for d, g in zip(self.platform.domains, grid)})

    def unit_times(self, table: LayerTable, freqs: Mapping[str, np.ndarray]) -> UnitTimes:
        """Compute and memory times of every operation at efficiency 1: clocks [n_points] give
        [n_ops, n_points]; clocks [n_ops, 1] (one point per operation) give [n_ops, 1]."""
        p = self.platform
        speed = p.fp16_speedup if self.precision == "fp16" else 1.0
        flops_per_hz = p.active_cores(self.mode) * p.flops_per_core_cycle * speed
        bytes_per_hz = p.transfers_per_clock * p.bus_width_bits / 8
        f_comp, f_mem = _columns(freqs[p.compute_domain]), _columns(freqs[MEMORY_DOMAIN])
        return UnitTimes(2.0 * table.macs[:, None] / (flops_per_hz * f_comp),
                         table.bytes_moved[:, None] / (bytes_per_hz * f_mem))

    def evaluate(self, table: LayerTable, c: Coefficients,
                 freqs: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Segment latency (s) and energy (J), each [n_segments, n_points]. The roofline part
        depends only on the (compute, memory) clock pair, so it is computed once per distinct
        pair (126 for the 3654 AGX Xavier points) and the launch term added per point."""
        p = self.platform
        comp_values, comp_index = np.unique(freqs[p.compute_domain], return_inverse=True)
        mem_values, mem_index = np.unique(freqs[MEMORY_DOMAIN], return_inverse=True)
        n_mem = mem_values.size
        pairs, pair_index = np.unique(comp_index * n_mem + mem_index, return_inverse=True)
        unit = self.unit_times(table, {p.compute_domain: comp_values[pairs // n_mem],
                                       MEMORY_DOMAIN: mem_values[pairs % n_mem]})
        roof = table.segment_sum(roofline_seconds(table, c, unit)[0])[:, pair_index]
        total = roof + launch_seconds(table.segment_sum(table.kernels)[:, None], c,
                                      _columns(freqs[HOST_DOMAIN])) + c.invoke_s
        return total, energy_joules(p, freqs, total, table.kind_macs,
                                    table.segment_sum(table.bytes_moved),
                                    table.segment_sum(table.kernels),
                                    energy_vector(c, self.precision, p))

    def _points(self, given: Mapping[str, ArrayLike]) -> dict[str, np.ndarray]:
        self._check_domains(given)
        reference = self.platform.reference_hz(self.mode)
        arrays = {d: np.atleast_1d(np.asarray(reference[d] if given.get(d) is None
                                              else given[d]))
                  for d in self.platform.domains}
        n = max(a.size for a in arrays.values())
        out = {}
        for d, a in arrays.items():
            if a.size not in (1, n) or a.ndim != 1:
                raise ConfigError(f"dvfs.{d}", f"needs 1 or {n} clocks, got shape {a.shape}")
            bad = a[~np.isin(a, self.platform.dvfs_hz[d])]
            if bad.size:
                raise ConfigError(f"dvfs.{d}", f"{int(bad[0])} Hz is not in the "
                                  f"{self.platform.name} {d} table", self.platform.dvfs_hz[d])
            out[d] = np.broadcast_to(a.astype(np.int64), (n,))
        return out

    def _check_domains(self, given: Mapping[str, ArrayLike]) -> None:
        for d, value in given.items():
            if value is not None and d not in self.platform.domains:
                raise ConfigError("dvfs", f"{self.platform.name} has no {d!r} domain",
                                  self.platform.domains)

    def _provenance(self) -> dict[str, str]:
        return {"latency_ms": self.platform.provenance("latency"),
                "energy_mj": self.platform.provenance("energy")}


def _columns(freq_hz: np.ndarray) -> np.ndarray:
    """Clocks as a row [1, n_points] (shared by every operation), or [n, 1] as given."""
    f = np.asarray(freq_hz, dtype=float)
    return f if f.ndim == 2 else np.atleast_1d(f)[None, :]


def roofline_seconds(table: LayerTable, c: Coefficients, unit: UnitTimes
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per operation: max(compute, memory), compute and memory seconds (shape of `unit`)."""
    eff = np.array([c.efficiency[k] for k in LAYER_KINDS])
    inv_eff = np.where(table.kind >= 0, 1.0 / eff[np.maximum(table.kind, 0)], 0.0)
    compute = unit.compute_s * inv_eff[:, None]
    memory = unit.memory_s / c.bandwidth_efficiency
    return np.maximum(compute, memory), compute, memory


def launch_seconds(kernels: np.ndarray, c: Coefficients, f_host: np.ndarray) -> np.ndarray:
    """Launch overhead of `kernels` kernels at host clock `f_host` (broadcast)."""
    return kernels * (c.launch_fixed_s + c.launch_cpu_cycles / f_host)


ENERGY_TERMS = ("static_w", "host_w", *(f"energy_pj_per_mac.{k}" for k in LAYER_KINDS),
                "energy_pj_per_byte", "energy_mj_per_invoke", "energy_uj_per_kernel")


def _scales(platform: Platform, freqs: Mapping[str, np.ndarray]
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """g_cpu, v_c^2 and v_emc^2 at the clocks (columns as `_columns` gives them)."""
    def curve(d: str) -> tuple[np.ndarray, int, VoltageCurve]:
        return _columns(freqs[d]), platform.dvfs_hz[d][-1], platform.voltage[d]
    return (dynamic_scale(*curve(HOST_DOMAIN)),
            voltage_ratio(*curve(platform.compute_domain)) ** 2,
            voltage_ratio(*curve(MEMORY_DOMAIN)) ** 2)


def energy_terms(platform: Platform, freqs: Mapping[str, np.ndarray], seconds: np.ndarray,
                 kind_macs: np.ndarray, bytes_moved: np.ndarray, kernels: np.ndarray
                 ) -> np.ndarray:
    """The terms whose dot product with `energy_vector` is the energy in J (`ENERGY_TERMS`):
    T, T g_cpu, MACs of each kind x v_c^2, bytes x v_emc^2, 1 (the invocation), kernels.
    `seconds` [n, n_points] (or [n, 1] with clocks [n, 1]), `kind_macs` [n, 4], `bytes_moved`
    and `kernels` [n] -> [n, n_points, 9]. The calibration's design matrix; `energy_joules`
    is the same sum without the terms."""
    g_host, v2_comp, v2_mem = _scales(platform, freqs)
    shape = np.broadcast_shapes(seconds.shape, v2_comp.shape, v2_mem.shape)
    return np.concatenate([
        np.broadcast_to(seconds, shape)[..., None],
        np.broadcast_to(seconds * g_host, shape)[..., None],
        kind_macs[:, None, :] * np.broadcast_to(v2_comp, shape)[..., None],
        (bytes_moved[:, None] * np.broadcast_to(v2_mem, shape))[..., None],
        np.ones(shape)[..., None], np.broadcast_to(kernels[:, None], shape)[..., None]], axis=-1)


def energy_joules(platform: Platform, freqs: Mapping[str, np.ndarray], seconds: np.ndarray,
                  kind_macs: np.ndarray, bytes_moved: np.ndarray, kernels: np.ndarray,
                  w: np.ndarray) -> np.ndarray:
    """`energy_terms(...) @ w` without building the terms (the search's hot path)."""
    g_host, v2_comp, v2_mem = _scales(platform, freqs)
    return (seconds * (w[0] + w[1] * g_host) + v2_comp * (kind_macs @ w[2:6])[:, None]
            + v2_mem * (bytes_moved * w[6])[:, None] + (w[7] + kernels * w[8])[:, None])


def energy_vector(c: Coefficients, precision: str, platform: Platform) -> np.ndarray:
    """(P_static, P_host, e_conv, e_dwconv, e_pwconv, e_linear, e_byte, e_invoke, e_kernel)
    in W and J."""
    per_mac = 1e-12 / (platform.fp16_speedup if precision == "fp16" else 1.0)
    return np.array([c.static_w, c.host_w, *(c.energy_pj_per_mac[k] * per_mac
                                             for k in LAYER_KINDS),
                     c.energy_pj_per_byte * 1e-12, c.energy_mj_per_invoke * 1e-3,
                     c.energy_uj_per_kernel * 1e-6])
