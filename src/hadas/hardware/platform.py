"""`Platform`: one device's DVFS tables, power modes, memory bus, peaks and model coefficients.

Platforms are data (YAML files in `hardware/platforms/`, every number with its source), read and
validated here into frozen dataclasses. Frequencies are integers in Hz everywhere. The model
coefficients (`Coefficients`) are what `hadas hw calibrate` fits; a calibrated platform file
carries a `calibration` block and its results say `calibrated` instead of `modelled`.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from hadas.errors import ConfigError

DOMAINS = ("cpu", "gpu", "emc")
HOST_DOMAIN = "cpu"     # drives kernel launches
MEMORY_DOMAIN = "emc"   # sets DRAM bandwidth
LAYER_KINDS = ("conv", "dwconv", "pwconv", "linear")
QUANTITIES = ("latency", "energy")


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
    """The fitted part of a platform: compute efficiencies, bandwidth factor, launch, power."""

    efficiency: Mapping[str, float]   # layer kind -> fraction of the FP32 (or FP16) peak
    bandwidth_efficiency: float       # achieved / formula DRAM bandwidth
    launch_fixed_s: float             # per kernel, independent of clocks
    launch_cpu_cycles: float          # per kernel, host cycles (time = cycles / f_cpu)
    static_w: float                   # board + leakage, always on
    host_w: float                     # CPU dynamic power at the CPU's max clock
    compute_w: float                  # compute-domain dynamic power at max clock, fully busy
    memory_w: float                   # EMC/DRAM dynamic power at max clock, fully busy

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["efficiency"] = dict(self.efficiency)
        return out


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
            "coefficients": self.coefficients.to_dict(),
            "voltage": {d: {"floor_ratio": v.floor_ratio, "knee_ratio": v.knee_ratio}
                        for d, v in self.voltage.items()},
        }
        if self.calibration is not None:
            out["calibration"] = dict(self.calibration)
        return out

    @property
    def fingerprint(self) -> str:
        """Content key of everything the model's results depend on."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_platform_file(path: str | Path) -> Platform:
    """Read and validate a platform YAML (shipped or calibrated)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("platform", f"file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        raise ConfigError("platform", f"{path} is not valid YAML") from None
    return platform_from_dict(data, source=str(path))


def platform_from_dict(data: Any, source: str | None = None) -> Platform:
    """Validate a platform mapping; ConfigError names the faulty field."""
    d = _Reader(data, "platform")
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
            "default_mode", "memory", "compute", "peak", "coefficients", "voltage", "calibration"))
    return Platform(
        name=name, description=d.text("description"), compute_domain=compute_domain,
        dvfs_hz=dvfs, cores=core_counts, power_modes=modes, default_mode=default_mode,
        bus_width_bits=mem.integer("bus_width_bits"),
        transfers_per_clock=mem.integer("transfers_per_clock"),
        flops_per_core_cycle=comp.number("flops_per_core_cycle", lo=0.5),
        fp16_speedup=comp.number("fp16_speedup", lo=1.0, hi=16.0),
        peak_fp32_gflops=peak.number("fp32_gflops", lo=0.0),
        peak_dram_gbs=peak.number("dram_gbs", lo=0.0),
        coefficients=coefficients_from_dict(d.data.get("coefficients"), "platform.coefficients"),
        voltage=voltage, calibration=dict(calibration) if calibration else None, source=source)


def coefficients_from_dict(data: Any, where: str) -> Coefficients:
    c = _Reader(data, where)
    eff = c.sub("efficiency")
    eff.only(LAYER_KINDS)
    c.only([f.name for f in fields(Coefficients)])
    return Coefficients(
        efficiency={k: eff.number(k, lo=1e-6, hi=100.0) for k in LAYER_KINDS},
        bandwidth_efficiency=c.number("bandwidth_efficiency", lo=1e-6, hi=100.0),
        launch_fixed_s=c.number("launch_fixed_s", lo=0.0, hi=1.0),
        launch_cpu_cycles=c.number("launch_cpu_cycles", lo=0.0, hi=1e9),
        static_w=c.number("static_w", lo=0.0, hi=1e4), host_w=c.number("host_w", lo=0.0, hi=1e4),
        compute_w=c.number("compute_w", lo=0.0, hi=1e4),
        memory_w=c.number("memory_w", lo=0.0, hi=1e4))


def _mode(data: Any, where: str, dvfs: Mapping[str, tuple[int, ...]]) -> PowerMode:
    m = _Reader(data, where)
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


class _Reader:
    """Typed access to one mapping of a platform file, naming the field on any error."""

    def __init__(self, data: Any, where: str):
        if not isinstance(data, Mapping):
            raise ConfigError(where, f"must be a mapping, got {type(data).__name__}")
        self.data, self.where = data, where

    def _get(self, key: str) -> Any:
        if key not in self.data:
            raise ConfigError(f"{self.where}.{key}", "missing")
        return self.data[key]

    def only(self, allowed) -> None:
        for key in self.data:
            if key not in allowed:
                raise ConfigError(f"{self.where}.{key}", "unknown key", allowed)

    def sub(self, key: str) -> "_Reader":
        return _Reader(self._get(key), f"{self.where}.{key}")

    def sequence(self, key: str) -> list:
        value = self._get(key)
        if not isinstance(value, list):
            raise ConfigError(f"{self.where}.{key}", "must be a list")
        return value

    def text(self, key: str, choices=None) -> str:
        value = self._get(key)
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{self.where}.{key}", f"must be a non-empty string, got {value!r}")
        if choices is not None and value not in choices:
            raise ConfigError(f"{self.where}.{key}", f"got {value!r}", choices)
        return value

    def integer(self, key: str) -> int:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{self.where}.{key}", f"must be an integer, got {value!r}")
        return value

    def number(self, key: str, lo: float | None = None, hi: float | None = None) -> float:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{self.where}.{key}", f"must be a number, got {value!r}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ConfigError(f"{self.where}.{key}", f"must be in [{lo}, {hi}], got {value!r}")
        return float(value)

    def freq_table(self, key: str) -> tuple[int, ...]:
        where = f"{self.where}.{key}"
        values = self.sequence(key)
        if not values or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0
                             for v in values):
            raise ConfigError(where, "must be a non-empty list of positive integers (Hz)")
        if list(values) != sorted(set(values)):
            raise ConfigError(where, "must be sorted ascending without repeats")
        return tuple(values)
