"""The `local` platform: the CPU this command runs on, for costing without a Jetson.

Cores come from `os.cpu_count()`, the CPU table from cpufreq's `scaling_available_frequencies`
(kHz) when readable, else one point: the current clock (cpufreq, then /proc/cpuinfo), else an
assumed 2 GHz. There is no GPU: compute runs on the CPU cores. Every coefficient is assumed and
says so until `hadas hw calibrate` fits it on a profile of this machine.
"""
from __future__ import annotations

import os
from pathlib import Path

from hadas.hardware.platform import Platform, platform_from_dict

CPUFREQ = Path("/sys/devices/system/cpu/cpu0/cpufreq")
CPUINFO = Path("/proc/cpuinfo")
ASSUMED_CPU_HZ = 2_000_000_000   # assumed when no clock can be read
ASSUMED_EMC_HZ = 1_600_000_000   # assumed: one DDR4-3200-class point (no EMC control on a PC)


def cpu_table_hz(cpufreq: Path = CPUFREQ, cpuinfo: Path = CPUINFO) -> tuple[tuple[int, ...], str]:
    """The CPU frequencies (Hz) and where they came from."""
    listed = _read_ints(cpufreq / "scaling_available_frequencies")
    if listed:
        return tuple(sorted({k * 1000 for k in listed})), "scaling_available_frequencies"
    current = _read_ints(cpufreq / "scaling_cur_freq")
    if current:
        return (current[0] * 1000,), "scaling_cur_freq"
    mhz = _cpuinfo_mhz(cpuinfo)
    if mhz is not None:
        return (int(round(mhz * 1e6)),), "/proc/cpuinfo"
    return (ASSUMED_CPU_HZ,), "assumed"


def local_platform(cpufreq: Path = CPUFREQ, cpuinfo: Path = CPUINFO) -> Platform:
    """Build the `local` platform from this machine (all coefficients assumed)."""
    cpu_hz, origin = cpu_table_hz(cpufreq, cpuinfo)
    cores = os.cpu_count() or 1
    return platform_from_dict({
        "name": "local",
        "description": f"this machine's CPU: {cores} cores, clocks from {origin}; "
                       "coefficients assumed until calibrated",
        "compute_domain": "cpu",
        "dvfs_hz": {"cpu": list(cpu_hz), "emc": [ASSUMED_EMC_HZ]},
        "cores": {"cpu": cores},
        "power_modes": [{"id": 0, "name": "current", "cpu_online": cores, "gpu_active_cores": 0,
                         "cap_hz": {"cpu": None, "emc": None}}],
        "default_mode": "current",
        "memory": {"bus_width_bits": 64, "transfers_per_clock": 2},   # assumed one DDR channel
        "compute": {"flops_per_core_cycle": 16, "fp16_speedup": 1.0},  # assumed 8-wide FP32 FMA
        "peak": {"fp32_gflops": 16 * cores * cpu_hz[-1] / 1e9,
                 "dram_gbs": ASSUMED_EMC_HZ * 2 * 8 / 1e9},
        "power_budget_w": 100.0,   # assumed: a desktop or server CPU package
        "coefficients": {  # all assumed; powers at full use, converted to energy per op on load
            "efficiency": {"conv": 0.3, "dwconv": 0.05, "pwconv": 0.4, "linear": 0.1},
            "bandwidth_efficiency": 0.5, "launch_fixed_s": 2e-6, "launch_cpu_cycles": 20000,
            "static_w": 10.0, "host_w": 5.0, "compute_w": 30.0, "memory_w": 5.0},
        "voltage": {"cpu": {"floor_ratio": 0.775, "knee_ratio": 0.5},  # assumed T210 shape
                    "emc": {"floor_ratio": 1.0, "knee_ratio": 0.0}},
    }, source="local")


def _cpuinfo_mhz(path: Path) -> float | None:
    """The first `cpu MHz` line of /proc/cpuinfo, if any."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "cpu mhz":
            try:
                return float(value)
            except ValueError:
                return None
    return None


def _read_ints(path: Path) -> list[int]:
    try:
        return [int(v) for v in path.read_text().split()]
    except (OSError, ValueError):
        return []
