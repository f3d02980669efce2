"""`Platform`: one device's DVFS tables, power modes, memory bus, peaks and model coefficients.

Platforms are data (YAML files in `hardware/platforms/`, every number with its source), read and
validated here into frozen dataclasses. Frequencies are integers in Hz everywhere. The model
coefficients (`Coefficients`) are what `hadas hw calibrate` fits; a calibrated platform file
carries a `calibration` block and its results say `calibrated` instead of `modelled`.

Every file, shipped or calibrated, must be physically possible (`physical_bounds`):
- efficiencies and the bandwidth efficiency lie in (0, 1] (a fraction of the peak);
- static + host power lie within the board's `power_budget_w` (each file names its source) and
  energies per operation are >= 0 (the mean power a calibration implies is reported beside the
  budget, `calibration` module docstring);
- the per-kernel launch overhead at the max CPU clock lies in [0, 0.5 ms] and the fixed cost
  of one invocation in [0, 10 ms]. PLATFORMS.md §7: batch-1 launch and framework overhead on a
  Jetson is "of the order of milliseconds" for a whole small CNN; with at least ~20 kernels
  per network, that is at most ~0.5 ms per kernel, and one invocation costs milliseconds at
  most. (The measured minimum of the shared Jetson LUTs, 0.09 ms for a one-kernel layer, lies
  inside both.)
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from hadas.digest import json_digest
from hadas.errors import ConfigError
from hadas.fields import Fields
from hadas.files import read_yaml

DOMAINS = ("cpu", "gpu", "emc")
HOST_DOMAIN = "cpu"     # drives kernel launches
MEMORY_DOMAIN = "emc"   # sets DRAM bandwidth
LAYER_KINDS = ("conv", "dwconv", "pwconv", "linear")
QUANTITIES = ("latency", "energy")
KERNEL_OVERHEAD_MAX_S = 5e-4   # per kernel at the max CPU clock (module docstring)
INVOKE_MAX_S = 1e-2            # per invocation (module docstring)
EFFICIENCY_MIN = 1e-4          # (0, 1]: a floor that keeps 1/efficiency finite


@dataclass(frozen=True)
class PowerMode:
    """An nvpmodel mode: online CPUs, active GPU cores and per-domain caps (Hz; None = no cap)."""

    id: int
    name: str
    cpu_online: int
    gpu_active_cores: int
    cap_hz: Mapping[str, int | None]


@dataclass(frozen=True)
class VoltageCurve:
    """V(f)/V(fmax): `floor_ratio` up to `knee_ratio` x fmax, then linear up to 1 at fmax."""

    floor_ratio: float
    knee_ratio: float


@dataclass(frozen=True)
class Coefficients:
    """The fitted part of a platform: latency (roofline efficiencies, per-kernel and
    per-invocation overheads) and energy (static and host power, energy per operation)."""

    efficiency: Mapping[str, float]   # layer kind -> fraction of the FP32 (or FP16) peak, (0, 1]
    bandwidth_efficiency: float       # achieved / formula DRAM bandwidth, (0, 1]
    launch_fixed_s: float             # per kernel, independent of clocks
    launch_cpu_cycles: float          # per kernel, host cycles (time = cycles / f_cpu)
    static_w: float                   # board + leakage, always on
    host_w: float                     # CPU dynamic power at the CPU's max clock
    energy_pj_per_mac: Mapping[str, float]  # layer kind -> dynamic energy per MAC at V_max
    energy_pj_per_byte: float         # DRAM traffic energy per byte at V_max
    invoke_s: float = 0.0             # per invocation (a DyNN segment, a measured layer)
    energy_mj_per_invoke: float = 0.0  # fixed energy of one invocation
    energy_uj_per_kernel: float = 0.0  # fixed energy of one kernel launch

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["efficiency"] = dict(self.efficiency)
        out["energy_pj_per_mac"] = dict(self.energy_pj_per_mac)
        return out

    def kernel_overhead_s(self, cpu_hz: float) -> float:
        """Launch overhead of one kernel at a CPU clock."""
        return self.launch_fixed_s + self.launch_cpu_cycles / cpu_hz


@dataclass(frozen=True)
class Platform:
    """A device the hardware model can cost networks on."""

    name: str
    description: str
    compute_domain: str                      # clock that drives compute: gpu (Jetson), cpu (local)
    dvfs_hz: Mapping[str, tuple[int, ...]]   # domain -> sorted frequencies, Hz
    cores: Mapping[str, int]                 # datasheet core counts per domain
    power_modes: tuple[PowerMode, ...]
    default_mode: str
    bus_width_bits: int
    transfers_per_clock: int
    flops_per_core_cycle: float
    fp16_speedup: float
    peak_fp32_gflops: float
    peak_dram_gbs: float
    coefficients: Coefficients
    voltage: Mapping[str, VoltageCurve]
    power_budget_w: float                    # the board's maximum power (file names the source)
    calibration: Mapping[str, Any] | None = None  # fit report of a calibrated platform
    source: str | None = field(default=None, compare=False)

    @property
    def domains(self) -> tuple[str, ...]:
        return tuple(d for d in DOMAINS if d in self.dvfs_hz)

    def provenance(self, quantity: str) -> str:
        """`calibrated` if `quantity` (latency or energy) was fitted, else `modelled`."""
        fitted = (self.calibration or {}).get("fitted", ())
        return "calibrated" if quantity in fitted else "modelled"

    def mode(self, name: str | None = None) -> PowerMode:
        """A power mode by name (default: the platform's default mode)."""
        name = name or self.default_mode
        for m in self.power_modes:
            if m.name == name:
                return m
        raise ConfigError("power_mode", f"{name!r} is not a mode of {self.name}",
                          [m.name for m in self.power_modes])

    def max_hz(self, domain: str, mode: str | None = None) -> int:
        """Highest clock of `domain` in a mode: its cap snapped to the nearest table entry."""
        table = self.dvfs_hz[domain]
        cap = self.mode(mode).cap_hz.get(domain)
        if cap is None:
            return table[-1]
        return min(table, key=lambda f: (abs(f - cap), -f))

    def reference_hz(self, mode: str | None = None) -> dict[str, int]:
        """The max clocks of a power mode (default mode): the reference DVFS point."""
        return {d: self.max_hz(d, mode) for d in self.domains}

    def active_cores(self, mode: str | None = None) -> int:
        """Compute units that work in a mode (GPU cores after TPC gating, or CPU cores)."""
        m = self.mode(mode)
        return m.gpu_active_cores if self.compute_domain == "gpu" else m.cpu_online

    def to_dict(self) -> dict[str, Any]:
        """The platform file's content (what `platform_from_dict` reads back)."""
        out: dict[str, Any] = {
            "name": self.name, "description": self.description,
            "compute_domain": self.compute_domain,
            "dvfs_hz": {d: list(v) for d, v in self.dvfs_hz.items()},
            "cores": dict(self.cores),
            "power_modes": [{"id": m.id, "name": m.name, "cpu_online": m.cpu_online,
                             "gpu_active_cores": m.gpu_active_cores, "cap_hz": dict(m.cap_hz)}
                            for m in self.power_modes],
            "default_mode": self.default_mode,
            "memory": {"bus_width_bits": self.bus_width_bits,
                       "transfers_per_clock": self.transfers_per_clock},
            "compute": {"flops_per_core_cycle": self.flops_per_core_cycle,
                        "fp16_speedup": self.fp16_speedup},
            "peak": {"fp32_gflops": self.peak_fp32_gflops, "dram_gbs": self.peak_dram_gbs},
            "power_budget_w": self.power_budget_w,
            "coefficients": self.coefficients.to_dict(),
            "voltage": {d: {"floor_ratio": v.floor_ratio, "knee_ratio": v.knee_ratio}
                        for d, v in self.voltage.items()},
        }
        if self.calibration is not None:
            out["calibration"] = dict(self.calibration)
        return out

    def peak_flops(self, mode: str | None = None) -> float:
        """FP32 FLOP/s of the compute domain at its max table clock in a mode."""
        return (self.active_cores(mode) * self.flops_per_core_cycle
                * self.dvfs_hz[self.compute_domain][-1])

    def peak_bytes_per_s(self) -> float:
        """DRAM bytes/s by the formula at the max EMC clock."""
        return self.dvfs_hz[MEMORY_DOMAIN][-1] * self.transfers_per_clock * self.bus_width_bits / 8

    def physical_bounds(self, c: "Coefficients | None" = None) -> list[str]:
        """What in coefficients `c` (default: the platform's) is physically impossible."""
        c = c or self.coefficients
        bad = []
        for name, value in [*((f"efficiency.{k}", v) for k, v in c.efficiency.items()),
                            ("bandwidth_efficiency", c.bandwidth_efficiency)]:
            if not 0.0 < value <= 1.0 + 1e-9:
                bad.append(f"{name} = {value:.4g} is not in (0, 1]")
        per_kernel = c.kernel_overhead_s(self.dvfs_hz[HOST_DOMAIN][-1])
        if not 0.0 <= per_kernel <= KERNEL_OVERHEAD_MAX_S * (1 + 1e-9):
            bad.append(f"per-kernel overhead {per_kernel * 1e3:.4g} ms is not in "
                       f"[0, {KERNEL_OVERHEAD_MAX_S * 1e3:g}] ms")
        if not 0.0 <= c.invoke_s <= INVOKE_MAX_S * (1 + 1e-9):
            bad.append(f"invoke_s {c.invoke_s * 1e3:.4g} ms is not in [0, {INVOKE_MAX_S * 1e3:g}] ms")
        budget = self.power_budget_w * (1 + 1e-9)
        if c.static_w + c.host_w > budget:
            bad.append(f"static_w + host_w = {c.static_w + c.host_w:.4g} W exceeds the "
                       f"{self.power_budget_w:g} W budget")
        return bad

    @property
    def fingerprint(self) -> str:
        """Content key of everything the model's results depend on."""
        return json_digest(self.to_dict(), default=str)


def load_platform_file(path: str | Path) -> Platform:
    """Read and validate a platform YAML (shipped or calibrated)."""
    return platform_from_dict(read_yaml(path, "platform"), source=str(path))


def platform_from_dict(data: Any, source: str | None = None) -> Platform:
    """Validate a platform mapping; ConfigError names the faulty field."""
    d = Fields(data, "platform")
    name = d.text("name")
    compute_domain = d.text("compute_domain", choices=DOMAINS[:2])
    tables = d.sub("dvfs_hz")
    dvfs = {dom: tables.freq_table(dom) for dom in DOMAINS if dom in tables.data}
    for need in (HOST_DOMAIN, MEMORY_DOMAIN, compute_domain):
        if need not in dvfs:
            raise ConfigError("platform.dvfs_hz", f"needs a {need!r} table", DOMAINS)
    tables.only(DOMAINS)
    cores = d.sub("cores")
    core_counts = {k: cores.integer(k) for k in cores.data}
    modes = tuple(_mode(m, f"platform.power_modes[{i}]", dvfs)
                  for i, m in enumerate(d.sequence("power_modes")))
    if not modes:
        raise ConfigError("platform.power_modes", "needs at least one mode")
    default_mode = d.text("default_mode", choices=[m.name for m in modes])
    mem, comp, peak = d.sub("memory"), d.sub("compute"), d.sub("peak")
    volt = d.sub("voltage")
    voltage = {}
    for dom in dvfs:
        v = volt.sub(dom)
        voltage[dom] = VoltageCurve(v.number("floor_ratio", lo=0.1, hi=1.0),
                                    v.number("knee_ratio", lo=0.0, hi=1.0))
    calibration = d.data.get("calibration")
    if calibration is not None and not isinstance(calibration, Mapping):
        raise ConfigError("platform.calibration", "must be a mapping")
    d.only(("name", "description", "compute_domain", "dvfs_hz", "cores", "power_modes",
            "default_mode", "memory", "compute", "peak", "coefficients", "voltage", "calibration",
            "power_budget_w"))
    platform = Platform(
        name=name, description=d.text("description"), compute_domain=compute_domain,
        dvfs_hz=dvfs, cores=core_counts, power_modes=modes, default_mode=default_mode,
        bus_width_bits=mem.integer("bus_width_bits"),
        transfers_per_clock=mem.integer("transfers_per_clock"),
        flops_per_core_cycle=comp.number("flops_per_core_cycle", lo=0.5),
        fp16_speedup=comp.number("fp16_speedup", lo=1.0, hi=16.0),
        peak_fp32_gflops=peak.number("fp32_gflops", lo=0.0),
        peak_dram_gbs=peak.number("dram_gbs", lo=0.0),
        coefficients=PLACEHOLDER, voltage=voltage,
        power_budget_w=d.number("power_budget_w", lo=0.1, hi=1e4),
        calibration=dict(calibration) if calibration else None, source=source)
    coefficients = coefficients_from_dict(d.data.get("coefficients"), "platform.coefficients",
                                          platform)
    platform = replace(platform, coefficients=coefficients)
    bad = platform.physical_bounds()
    if bad:
        raise ConfigError("platform.coefficients", f"{source or name}: physically impossible: "
                          + "; ".join(bad))
    return platform


def coefficients_from_dict(data: Any, where: str, platform: Platform) -> Coefficients:
    """Validate coefficients. Files of the first format (compute_w, memory_w: dynamic powers at
    full use) are converted exactly: energy per MAC = 2 P_comp / (efficiency x peak FLOP/s),
    energy per byte = P_mem / (eta_bw x peak bytes/s)."""
    c = Fields(data, where)
    eff = c.sub("efficiency")
    eff.only(LAYER_KINDS)
    legacy = "compute_w" in c.data or "memory_w" in c.data
    c.only([f.name for f in fields(Coefficients)] + (["compute_w", "memory_w"] if legacy else []))
    efficiency = {k: eff.number(k, lo=EFFICIENCY_MIN, hi=1.0) for k in LAYER_KINDS}
    eta = c.number("bandwidth_efficiency", lo=EFFICIENCY_MIN, hi=1.0)
    if legacy:
        compute_w, memory_w = c.number("compute_w", lo=0.0), c.number("memory_w", lo=0.0)
        per_mac = {k: 2e12 * compute_w / (efficiency[k] * platform.peak_flops())
                   for k in LAYER_KINDS}
        per_byte = 1e12 * memory_w / (eta * platform.peak_bytes_per_s())
    else:
        macs = c.sub("energy_pj_per_mac")
        macs.only(LAYER_KINDS)
        per_mac = {k: macs.number(k, lo=0.0, hi=1e6) for k in LAYER_KINDS}
        per_byte = c.number("energy_pj_per_byte", lo=0.0, hi=1e6)
    return Coefficients(
        efficiency=efficiency, bandwidth_efficiency=eta,
        launch_fixed_s=c.number("launch_fixed_s", lo=0.0, hi=1.0),
        launch_cpu_cycles=c.number("launch_cpu_cycles", lo=0.0, hi=1e9),
        static_w=c.number("static_w", lo=0.0, hi=1e4), host_w=c.number("host_w", lo=0.0, hi=1e4),
        energy_pj_per_mac=per_mac, energy_pj_per_byte=per_byte,
        **{name: c.number(name, lo=0.0, hi=1e3)
           for name in ("invoke_s", "energy_mj_per_invoke", "energy_uj_per_kernel")
           if name in c.data})


PLACEHOLDER = Coefficients({k: 1.0 for k in LAYER_KINDS}, 1.0, 0.0, 0.0, 0.0, 0.0,
                           {k: 0.0 for k in LAYER_KINDS}, 0.0)


def _mode(data: Any, where: str, dvfs: Mapping[str, tuple[int, ...]]) -> PowerMode:
    m = Fields(data, where)
    caps = m.sub("cap_hz")
    caps.only(tuple(dvfs))
    cap_hz = {}
    for dom, value in caps.data.items():
        if value is not None:
            value = caps.integer(dom)
            if value <= 0:
                raise ConfigError(f"{where}.cap_hz.{dom}", f"must be > 0 Hz or null, got {value}")
        cap_hz[dom] = value
    m.only(("id", "name", "cpu_online", "gpu_active_cores", "cap_hz"))
    return PowerMode(m.integer("id"), m.text("name"), m.integer("cpu_online"),
                     m.integer("gpu_active_cores"), cap_hz)
