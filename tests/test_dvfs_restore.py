"""Robust clock restore on a fake AGX Xavier tree: signals during writes, refused nodes, SIGHUP,
and clock values that are not numbers of Hz (1e400, inf, nan)."""
from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from test_dvfs import EMC, GPU, FakeKernelIO, make_agx_xavier, snapshot

from hadas.errors import ConfigError
from hadas.hardware.clocks import DvfsSetting, parse_clocks
from hadas.hardware.dvfs import DvfsControl, DvfsError
from hadas.hardware.registry import get_platform

PIN = {"cpu": 806_400_000, "gpu": 624_750_000, "emc": 665_600_000}
CATCHABLE = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class HookedIO(FakeKernelIO):
    """The fake kernel with hooks: once `armed`, a write to `signal_at` (any node if None)
    delivers `sig` while that write is in flight, and the write still lands afterwards, as a
    buffered write flushed on close does; writes to nodes in `broken` are refused; reads of
    nodes in `unreadable` fail once."""

    def __init__(self, root: Path, **kw):
        super().__init__(root, log=lambda s: None, **kw)
        self.armed = False
        self.sig: int | None = None
        self.signal_at: str | None = None
        self.broken: set[str] = set()
        self.unreadable: set[str] = set()

    def read_int(self, path: Path) -> int:
        node = f"{path.parent.name}/{path.name}"
        if self.armed and node in self.unreadable:
            self.unreadable.discard(node)
            raise DvfsError(f"cannot read {path}: busy")
        return super().read_int(path)

    def write(self, path: Path, value: int | str) -> None:
        node = f"{path.parent.name}/{path.name}"
        if self.armed and node in self.broken:
            raise DvfsError(f"cannot write {path}: permission denied")
        if self.armed and self.sig is not None and self.signal_at in (None, node):
            sig, self.sig = self.sig, None  # once
            try:
                signal.raise_signal(sig)  # Python runs the handler before this returns
            finally:
                super().write(path, value)
            return
        super().write(path, value)


@pytest.fixture()
def board(tmp_path: Path) -> tuple[Path, HookedIO]:
    root = make_agx_xavier(tmp_path / "root")
    return root, HookedIO(root)


@pytest.fixture(autouse=True)
def default_signal_actions() -> Iterator[None]:
    """The default actions, whatever the test runner was started with (nohup ignores SIGHUP)."""
    before = {s: signal.getsignal(s) for s in CATCHABLE}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    yield
    for s, handler in before.items():
        signal.signal(s, handler)


def assert_all_restored(root: Path, before: dict[str, str]) -> None:
    after = snapshot(root)
    changed = [rel for rel in before if before[rel] != after[rel] and not rel.endswith("cur_freq")]
    assert changed == []


@pytest.mark.parametrize("sig,node", [
    (signal.SIGTERM, "17000000.gv11b/max_freq"),    # after min written, before max
    (signal.SIGTERM, "17000000.gv11b/min_freq"),    # the domain's first write
    (signal.SIGTERM, "emc/rate"),                   # after the lock, before the rate
    (signal.SIGTERM, "policy4/scaling_min_freq"),   # halfway through the CPU policies
    (signal.SIGINT, "17000000.gv11b/max_freq"),
    (signal.SIGHUP, "17000000.gv11b/max_freq"),
])
def test_a_signal_during_a_pin_write_waits_for_it_then_restores_every_clock(board, sig, node):
    root, io = board
    before = snapshot(root)
    io.armed, io.sig, io.signal_at = True, sig, node
    expected = KeyboardInterrupt if sig == signal.SIGINT else SystemExit
    with pytest.raises(expected) as info:
        with DvfsControl(io=io, settle_s=0.2) as dvfs:
            dvfs.apply(PIN)
    assert io.sig is None  # the hook fired
    if expected is SystemExit:
        assert info.value.code == 128 + sig
    assert_all_restored(root, before)
    assert dvfs._saved == {}


def test_a_signal_during_the_restore_waits_until_every_clock_is_back(board):
    root, io = board
    before = snapshot(root)
    with pytest.raises(SystemExit) as info:
        with DvfsControl(io=io, settle_s=0.2) as dvfs:
            dvfs.apply(PIN)
            io.armed, io.sig = True, signal.SIGTERM  # at the restore's first write
            raise RuntimeError("measurement failed")
    assert info.value.code == 143 and isinstance(info.value.__context__, RuntimeError)
    assert io.sig is None
    assert_all_restored(root, before)


def test_sighup_inside_the_context_restores_every_clock(board):
    root, io = board
    before = snapshot(root)
    with pytest.raises(SystemExit) as info:
        with DvfsControl(io=io, settle_s=0.2) as dvfs:
            dvfs.apply(PIN)
            assert (root / GPU / "max_freq").read_text().strip() == "624750000"
            signal.raise_signal(signal.SIGHUP)  # the SSH session dropped
    assert info.value.code == 129
    assert_all_restored(root, before)


def test_an_ignored_sighup_stays_ignored(board):
    _, io = board
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # started under nohup
    with DvfsControl(io=io):
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None)


def test_a_refused_node_does_not_stop_the_others_and_a_later_restore_fixes_it(board):
    root, io = board
    before = snapshot(root)
    with pytest.raises(DvfsError) as info:
        with DvfsControl(io=io, settle_s=0.2) as dvfs:
            dvfs.apply(PIN)
            io.armed = True
            io.broken = {"17000000.gv11b/min_freq", "policy2/scaling_min_freq"}
    message = str(info.value)
    assert message.startswith("restoring clocks failed: ")
    assert message.count("permission denied") == 2  # both nodes, in one error
    assert "min_freq" in message and "policy2/scaling_min_freq" in message
    after = snapshot(root)
    wrong = {rel for rel in before if before[rel] != after[rel] and not rel.endswith("cur_freq")}
    assert wrong == {f"{GPU}/min_freq", "sys/devices/system/cpu/cpufreq/policy2/scaling_min_freq"}
    assert after[f"{GPU}/max_freq"] == before[f"{GPU}/max_freq"]  # max even though min failed
    assert sorted(dvfs._saved) == ["cpu", "gpu"]  # emc is back; the others wait for a retry

    io.broken.clear()  # writable again
    dvfs.restore()
    assert_all_restored(root, before)
    io.writes.clear()
    dvfs.restore()  # nothing left to do
    assert io.writes == []


def test_a_restore_that_fails_on_a_signal_is_reported_and_still_ends_the_block(board, capsys):
    root, io = board
    with pytest.raises(DvfsError, match="emc: cannot write") as info:
        with DvfsControl(io=io, settle_s=0.2) as dvfs:
            dvfs.apply(PIN)
            io.armed, io.broken = True, {"emc/rate"}
            signal.raise_signal(signal.SIGTERM)
    assert isinstance(info.value.__context__, SystemExit)  # the exit, then the retry at __exit__
    err = capsys.readouterr().err
    assert "clean-up after signal 15 failed: restoring clocks failed: emc:" in err
    assert list(dvfs._saved) == ["emc"]
    assert (root / GPU / "max_freq").read_text().strip() == "1377000000"


def test_a_write_refused_for_the_min_max_order_is_retried_after_the_other_node(board):
    root, io = board
    before = snapshot(root)
    with DvfsControl(io=io, settle_s=0.2) as dvfs:
        dvfs.apply({"cpu": 806_400_000})
        # max unreadable once: the restore cannot pick the order and tries min first, which
        # the kernel refuses (1190400 > 806400 kHz); after max is written the retry succeeds
        io.armed, io.unreadable = True, {"policy0/scaling_max_freq"}
    policy0 = [w for w in io.writes if w[0].startswith("policy0/")]
    assert policy0[-3:] == [("policy0/scaling_min_freq", 1190400),
                            ("policy0/scaling_max_freq", 2265600),
                            ("policy0/scaling_min_freq", 1190400)]
    assert_all_restored(root, before)


def test_emc_is_unlocked_even_when_its_rate_cannot_be_written(board):
    root, io = board
    with pytest.raises(DvfsError, match="emc: cannot write .*rate: permission denied"):
        with DvfsControl(io=io, settle_s=0.2) as dvfs:
            dvfs.apply({"emc": 665_600_000})
            io.armed, io.broken = True, {"emc/rate"}
    assert (root / EMC / "mrq_rate_locked").read_text().strip() == "0"
    io.broken.clear()
    dvfs.restore()
    assert (root / EMC / "rate").read_text().strip() == "1600000000"


@pytest.mark.parametrize("text", ["gpu=1e400", "gpu=inf", "gpu=-inf", "gpu=nan", "gpu=1e30",
                                  "gpu=0", "gpu=-1377000000"])
def test_clock_values_that_are_not_frequencies_are_config_errors(text):
    xavier = get_platform("agx-xavier")
    with pytest.raises(ConfigError) as info:
        DvfsSetting.parse(xavier, text)
    assert info.value.field == "dvfs.gpu"
    with pytest.raises(ConfigError) as info:
        parse_clocks(text, "set", sep=" ")
    assert info.value.field == "set gpu" and "\n" not in str(info.value)


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 10**400, 1e30, True, "fast"])
def test_clock_values_in_a_mapping_are_checked_before_any_conversion(value):
    with pytest.raises(ConfigError) as info:
        DvfsSetting.create(get_platform("agx-xavier"), {"gpu": value})
    assert info.value.field == "dvfs.gpu"


def test_whole_and_exponent_clock_values_still_parse():
    assert parse_clocks("gpu=1.377e9, emc=204000000") == {"gpu": 1_377_000_000,
                                                          "emc": 204_000_000}
    with pytest.raises(ConfigError, match="not a whole number of Hz"):
        parse_clocks("gpu=1.5")
    with pytest.raises(ConfigError, match="expected DOMAIN=HZ"):
        parse_clocks("gpu")
