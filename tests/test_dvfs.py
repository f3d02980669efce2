"""DVFS control against a fake AGX Xavier sysfs tree: safe write order, read-back, restore, dry-run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from hadas.errors import ConfigError
from hadas.hardware.dvfs import DvfsControl, DvfsError, SysfsIO, cleanup_on_signals

CPU_KHZ = [115200 + 76800 * i for i in range(28)] + [2265600]
GPU_HZ = [114750000, 216750000, 318750000, 420750000, 522750000, 624750000, 675750000, 828750000,
          905250000, 1032750000, 1198500000, 1236750000, 1338750000, 1377000000]
EMC_KHZ = [204000, 408000, 665600, 800000, 1065600, 1331200, 1600000, 1866000, 2133000]
GPU = "sys/devices/17000000.gv11b/devfreq/17000000.gv11b"
EMC = "sys/kernel/debug/bpmp/debug/clk/emc"


def _put(root: Path, rel: str, value: object) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{value}\n")


def make_agx_xavier(root: Path) -> Path:
    """The clock nodes of an AGX Xavier on JetPack 4 (PLATFORMS.md §3, §5), MAXN defaults."""
    for p in (0, 2, 4, 6):
        d = f"sys/devices/system/cpu/cpufreq/policy{p}"
        _put(root, f"{d}/scaling_available_frequencies", " ".join(map(str, CPU_KHZ)) + " ")
        _put(root, f"{d}/scaling_available_governors", "interactive userspace performance schedutil")
        _put(root, f"{d}/scaling_governor", "schedutil")
        _put(root, f"{d}/affected_cpus", f"{p} {p + 1}")
        _put(root, f"{d}/related_cpus", f"{p} {p + 1}")
        _put(root, f"{d}/scaling_min_freq", 1190400)
        _put(root, f"{d}/scaling_max_freq", 2265600)
        _put(root, f"{d}/scaling_cur_freq", 2265600)
    _put(root, f"{GPU}/available_frequencies", " ".join(map(str, GPU_HZ)))
    _put(root, f"{GPU}/governor", "nvhost_podgov")
    _put(root, f"{GPU}/min_freq", 114750000)
    _put(root, f"{GPU}/max_freq", 1377000000)
    _put(root, f"{GPU}/cur_freq", 318750000)
    _put(root, f"{EMC}/mrq_rate_locked", 0)
    _put(root, f"{EMC}/rate", 1600000000)
    _put(root, f"{EMC}/min_rate", 204000000)
    _put(root, f"{EMC}/max_rate", 2133000000)
    _put(root, "sys/kernel/debug/bpmp/debug/emc/possible_rates", " ".join(map(str, EMC_KHZ)))
    return root


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}


class FakeKernelIO(SysfsIO):
    """Records writes and acts like the kernel: refuses min > max, moves the current clock."""

    def __init__(self, root: Path, **kw):
        super().__init__(root, **kw)
        self.writes: list[tuple[str, int]] = []

    def write(self, path: Path, value: int | str) -> None:
        name = path.name
        if not self.dry_run:
            self.writes.append((f"{path.parent.name}/{name}", int(value)))
        if name in ("min_freq", "scaling_min_freq", "max_freq", "scaling_max_freq") and not self.dry_run:
            other = path.parent / (name.replace("min", "MAX").replace("max", "min").replace("MAX", "max"))
            lo, hi = (int(value), self.read_int(other)) if "min" in name else (self.read_int(other), int(value))
            if lo > hi:
                raise DvfsError(f"fake kernel: min {lo} > max {hi} at {path}")
            super().write(path, value)
            cur = path.parent / ("cur_freq" if "scaling" not in name else "scaling_cur_freq")
            cur.write_text(f"{min(max(self.read_int(cur), lo), hi)}\n")
            return
        super().write(path, value)


@pytest.fixture()
def board(tmp_path: Path) -> tuple[Path, FakeKernelIO]:
    root = make_agx_xavier(tmp_path / "root")
    return root, FakeKernelIO(root, log=lambda s: None)


def test_tables_are_read_from_the_board_in_hz(board):
    root, io = board
    tables = DvfsControl(io=io).tables()
    assert tables["cpu"] == tuple(k * 1000 for k in CPU_KHZ)
    assert tables["gpu"] == tuple(GPU_HZ)
    assert tables["emc"][0] == 204_000_000 and tables["emc"][-1] == 2_133_000_000


def test_safe_write_order_read_back_and_restore(board):
    root, io = board
    before = snapshot(root)
    with DvfsControl(io=io, settle_s=0.2) as dvfs:
        got = dvfs.apply({"cpu": 1_420_800_000, "gpu": 624_750_000, "emc": 665_600_000})
        assert got == {"cpu": 1_420_800_000, "gpu": 624_750_000, "emc": 665_600_000}
        gpu_writes = [w for w in io.writes if w[0].startswith("17000000")]
        assert gpu_writes == [("17000000.gv11b/min_freq", 624750000),
                              ("17000000.gv11b/max_freq", 624750000)]  # lowering: min first
        order = [w[0].split("/")[0] for w in io.writes]
        assert order.index("17000000.gv11b") < order.index("emc") < order.index("policy0")
        assert io.writes[2:4] == [("emc/mrq_rate_locked", 1), ("emc/rate", 665600000)]
        io.writes.clear()
        dvfs.apply({"gpu": 1_377_000_000})  # raising from a pinned 624.75 MHz: max first
        assert io.writes == [("17000000.gv11b/max_freq", 1377000000),
                             ("17000000.gv11b/min_freq", 1377000000)]
        io.writes.clear()
        dvfs.apply({"gpu": 114_750_000})  # lowering: min first
        assert io.writes[0] == ("17000000.gv11b/min_freq", 114750000)
        assert (root / GPU / "cur_freq").read_text().strip() == "114750000"
        assert (root / "sys/devices/system/cpu/cpufreq/policy4/scaling_cur_freq").read_text().strip() == "1420800"
    after = snapshot(root)
    changed = {k for k in before if before[k] != after[k]}
    assert changed <= {f"{GPU}/cur_freq"} | {f"sys/devices/system/cpu/cpufreq/policy{p}/scaling_cur_freq"
                                            for p in (0, 2, 4, 6)}


def test_exception_restores_every_original_value(board):
    root, io = board
    before = snapshot(root)
    with pytest.raises(RuntimeError, match="boom"):
        with DvfsControl(io=io) as dvfs:
            dvfs.apply({"cpu": 806_400_000, "gpu": 1_377_000_000, "emc": 2_133_000_000})
            raise RuntimeError("boom")
    after = snapshot(root)
    for rel in (f"{GPU}/min_freq", f"{GPU}/max_freq", f"{EMC}/rate", f"{EMC}/mrq_rate_locked",
                "sys/devices/system/cpu/cpufreq/policy6/scaling_min_freq",
                "sys/devices/system/cpu/cpufreq/policy6/scaling_max_freq"):
        assert after[rel] == before[rel], rel


@pytest.mark.parametrize("domain,value,snippet", [
    ("gpu", 500_000_000, "114750000"), ("cpu", 1_420_800, "2265600000"), ("emc", 204_000, "204000000"),
    ("dla", 1, "cpu, emc, gpu")])
def test_frequency_not_in_the_board_list_is_refused_before_any_write(board, domain, value, snippet):
    root, io = board
    with pytest.raises(ConfigError) as info:
        DvfsControl(io=io).apply({"gpu": 624_750_000, domain: value})
    assert info.value.field == f"dvfs.{domain}" and snippet in str(info.value)
    assert io.writes == []


def test_board_that_does_not_apply_the_clock_is_an_error(board):
    root, _ = board
    io = SysfsIO(root, log=lambda s: None)  # plain files: cur_freq never follows
    with pytest.raises(DvfsError, match="gpu: asked for 624750000 Hz"):
        with DvfsControl(io=io, settle_s=0.1) as dvfs:
            dvfs.apply({"gpu": 624_750_000})
    assert (root / GPU / "min_freq").read_text().strip() == "114750000"


def test_dry_run_prints_the_writes_and_changes_nothing(board, capsys):
    root, _ = board
    before = snapshot(root)
    with DvfsControl(root, dry_run=True) as dvfs:
        assert dvfs.apply({"gpu": 624_750_000, "emc": 800_000_000}) == {
            "gpu": 624_750_000, "emc": 800_000_000}
    out = capsys.readouterr().out
    assert f"echo 624750000 > {root / GPU / 'min_freq'}" in out
    assert "echo 1 > " in out and "mrq_rate_locked" in out
    assert snapshot(root) == before


def test_missing_domain_says_why(tmp_path):
    with pytest.raises(ConfigError, match="dvfs.emc: cannot be set on this board: no EMC clock"):
        DvfsControl(tmp_path).apply({"emc": 204_000_000})


SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    from test_dvfs import FakeKernelIO
    from hadas.hardware.dvfs import DvfsControl
    io = FakeKernelIO({root!r}, log=lambda s: None)
    with DvfsControl(io=io, settle_s=0.5) as dvfs:
        dvfs.apply({{"cpu": 729600000, "gpu": 905250000, "emc": 408000000}})
        print("pinned", flush=True)
        time.sleep(60)  # the measurement, interrupted by the signal
""")


# SIGTERM's (SIGHUP's) default action becomes SystemExit(143) (129); an uncaught
# KeyboardInterrupt makes Python end itself with SIGINT (status -2). Either way the clocks are
# back first.
@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, -signal.SIGINT),
                                      (signal.SIGHUP, 129)])  # SIGHUP: a dropped SSH session
def test_signal_in_the_middle_of_a_measurement_restores_clocks(board, sig, code):
    root, _ = board
    before = snapshot(root)
    script = SCRIPT.format(tests=str(Path(__file__).parent), root=str(root))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    try:
        assert proc.stdout.readline().strip() == "pinned", proc.stderr.read()
        assert (root / GPU / "min_freq").read_text().strip() == "905250000"
        assert (root / EMC / "mrq_rate_locked").read_text().strip() == "1"
        proc.send_signal(sig)
        assert proc.wait(timeout=20) == code
    finally:
        proc.kill()
    after = snapshot(root)
    for rel in before:
        if not rel.endswith("cur_freq"):
            assert after[rel] == before[rel], rel


def test_signal_handlers_are_put_back_and_only_set_in_the_main_thread(board):
    root, io = board
    mine = lambda signum, frame: None  # noqa: E731
    previous = signal.signal(signal.SIGTERM, mine)
    try:
        with DvfsControl(io=io):
            assert signal.getsignal(signal.SIGTERM) is not mine
            seen = []
            worker = threading.Thread(target=lambda: seen.append(
                cleanup_on_signals(lambda: None).__enter__()))
            worker.start()
            worker.join()
            assert seen == [False]
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_measured_current_clock_near_the_target_is_accepted(board):
    root, _ = board

    class MeasuredRateIO(FakeKernelIO):  # the driver reports a measured, not a table, rate
        def write(self, path, value):
            super().write(path, value)
            if path.name == "scaling_max_freq":
                (path.parent / "scaling_cur_freq").write_text(f"{int(value) - 700}\n")

    io = MeasuredRateIO(root, log=lambda s: None)
    with DvfsControl(io=io, settle_s=0.1) as dvfs:
        assert dvfs.apply({"cpu": 1_420_800_000}) == {"cpu": 1_420_800_000}
        assert (root / "sys/devices/system/cpu/cpufreq/policy0/scaling_cur_freq").read_text() == "1420100\n"


def test_refused_first_write_reports_that_error_and_writes_nothing_back(board):
    root, _ = board

    class ReadOnlyIO(FakeKernelIO):  # not root: every write is refused
        def write(self, path, value):
            raise DvfsError(f"cannot write {path}: permission denied")

    io = ReadOnlyIO(root, log=lambda s: None)
    with pytest.raises(DvfsError, match="min_freq: permission denied"):
        with DvfsControl(io=io) as dvfs:
            dvfs.apply({"gpu": 624_750_000})
