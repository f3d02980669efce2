"""Find a board's clock nodes under a root; paths moved between L4T releases (PLATFORMS.md §5)."""
from __future__ import annotations


from hadas.hardware.dvfs.domains import BpmpEmcDomain, ClockDomain, CpuDomain, DevfreqDomain
from hadas.hardware.dvfs.sysfs import SysfsIO

CPUFREQ = "/sys/devices/system/cpu/cpufreq"
GPU_DEVFREQ = (  # JetPack 4 and 5 device paths of each SoC, then the devfreq class links
    "/sys/devices/17000000.gv11b/devfreq/17000000.gv11b",
    "/sys/devices/17000000.gv11b/devfreq_dev",
    "/sys/devices/17000000.gp10b/devfreq/17000000.gp10b",
    "/sys/devices/17000000.ga10b/devfreq/17000000.ga10b",
    "/sys/devices/platform/bus@0/17000000.gpu/devfreq/17000000.gpu",
    "/sys/devices/57000000.gpu/devfreq/57000000.gpu",
    "/sys/class/devfreq/17000000.gv11b",
    "/sys/class/devfreq/17000000.gp10b",
    "/sys/class/devfreq/17000000.ga10b",
    "/sys/class/devfreq/17000000.gpu",
    "/sys/class/devfreq/57000000.gpu",
)
BPMP = "/sys/kernel/debug/bpmp/debug"


def find_cpu(io: SysfsIO) -> CpuDomain | str:
    """Online cpufreq policies (a policy whose CPUs are all offline has no affected_cpus)."""
    base = io.path(CPUFREQ)
    policies = sorted(base.glob("policy*"), key=lambda p: int(p.name[6:] or 0))
    if not policies:
        policies = sorted(io.path("/sys/devices/system/cpu").glob("cpu[0-9]*/cpufreq"))
    online = tuple(p for p in policies if (p / "affected_cpus").exists()
                   and io.read(p / "affected_cpus"))
    if not online:
        return f"no online cpufreq policy under {base}"
    missing = [p for p in online if not (p / "scaling_available_frequencies").exists()]
    if missing:
        return f"{missing[0]} has no scaling_available_frequencies (not a Jetson cpufreq driver?)"
    return CpuDomain(io, online)


def find_gpu(io: SysfsIO) -> DevfreqDomain | str:
    for rel in GPU_DEVFREQ:
        path = io.path(rel)
        if (path / "available_frequencies").exists():
            return DevfreqDomain(io, path)
    return ("no GPU devfreq node (looked for " + ", ".join(GPU_DEVFREQ[:6])
            + " and the devfreq class)")


def find_emc(io: SysfsIO) -> BpmpEmcDomain | str:
    clk = io.path(BPMP) / "clk" / "emc"
    if not (clk / "rate").exists():
        return (f"no EMC clock at {clk} (debugfs is root-only; mount it with "
                "`mount -t debugfs none /sys/kernel/debug`)")
    for rates in (clk / "possible_rates", io.path(BPMP) / "emc" / "possible_rates"):
        if rates.exists():
            return BpmpEmcDomain(io, clk, rates)
    return (f"no EMC possible_rates list next to {clk}: refusing to write rates not read "
            "from the board")


def discover(io: SysfsIO) -> tuple[dict[str, ClockDomain], dict[str, str]]:
    """Domains found (name -> domain) and, for each one not found, why."""
    found: dict[str, ClockDomain] = {}
    missing: dict[str, str] = {}
    for name, finder in (("cpu", find_cpu), ("gpu", find_gpu), ("emc", find_emc)):
        result = finder(io)
        if isinstance(result, str):
            missing[name] = result
        else:
            found[name] = result
    return found, missing
