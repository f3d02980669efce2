"""Clock domains of a Jetson board: CPU cpufreq policies, GPU devfreq, EMC through bpmp debugfs.

Each domain reads its allowed frequencies from the device, pins one (in Hz), reads it back and
restores what it found. CPU nodes are in kHz, devfreq and EMC rates in Hz (PLATFORMS.md §5).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hadas.hardware.dvfs.sysfs import DvfsError, SysfsIO

RESTORE_ROUNDS = 3  # a min/max pair needs at most two; the third absorbs a transient refusal


def range_order(io: SysfsIO, min_path: Path, max_path: Path, new_min: int) -> tuple[Path, Path]:
    """The write order that keeps min <= max after every single write: max first when the new
    minimum is above the current maximum (raising), else min first (also when max is unreadable)."""
    try:
        raising = new_min > io.read_int(max_path)
    except DvfsError:
        raising = False
    return (max_path, min_path) if raising else (min_path, max_path)


def write_range(io: SysfsIO, min_path: Path, max_path: Path, new_min: int, new_max: int) -> None:
    """Set a min/max pair in the order of `range_order`; the first refused write raises."""
    values = {min_path: new_min, max_path: new_max}
    for path in range_order(io, min_path, max_path, new_min):
        io.write(path, values[path])


def restore_nodes(io: SysfsIO, targets: list[tuple[Path, int]], what: str) -> None:
    """Write every node back to its value, each one independently of the others: a refused write
    is retried after the rest (the min <= max order can refuse a first try), up to
    RESTORE_ROUNDS rounds. Nodes already holding their value are not written. One DvfsError
    names every node still wrong at the end."""
    todo = list(targets)
    failures: dict[Path, str] = {}
    for _ in range(RESTORE_ROUNDS):
        failures = {}
        for path, value in todo:
            try:
                if _holds(io, path, value):
                    continue
                io.write(path, value)
            except DvfsError as exc:
                failures[path] = str(exc)
        todo = [(p, v) for p, v in todo if p in failures]
        if not todo:
            return
    raise DvfsError(f"{what}: " + "; ".join(failures.values()))


def _holds(io: SysfsIO, path: Path, value: int) -> bool:
    try:
        return io.read_int(path) == value
    except DvfsError:
        return False  # unreadable: write it anyway


def restore_range(io: SysfsIO, pairs: list[tuple[Path, Path, int, int]], what: str) -> None:
    """Restore min/max pairs (min_path, max_path, min, max), each pair in its safe order."""
    targets = []
    for min_path, max_path, lo, hi in pairs:
        values = {min_path: lo, max_path: hi}
        targets += [(p, values[p]) for p in range_order(io, min_path, max_path, lo)]
    restore_nodes(io, targets, what)


@dataclass
class CpuDomain:
    """All online cpufreq policies pinned together with scaling_min_freq = scaling_max_freq.

    min = max works under any governor; a userspace set-speed would still be clamped by them."""

    io: SysfsIO
    policies: tuple[Path, ...]
    name: str = "cpu"

    @property
    def available_hz(self) -> tuple[int, ...]:
        """Frequencies every policy offers (kHz in sysfs, Hz here)."""
        common = None
        for p in self.policies:
            khz = set(self.io.read_ints(p / "scaling_available_frequencies"))
            common = khz if common is None else common & khz
        return tuple(sorted(k * 1000 for k in common or ()))

    def snapshot(self) -> dict[Path, tuple[int, int]]:
        return {p: (self.io.read_int(p / "scaling_min_freq"),
                    self.io.read_int(p / "scaling_max_freq")) for p in self.policies}

    def pin(self, freq_hz: int) -> None:
        khz = freq_hz // 1000
        for p in self.policies:
            write_range(self.io, p / "scaling_min_freq", p / "scaling_max_freq", khz, khz)

    def pinned_hz(self) -> int | None:
        """The frequency min and max of every policy hold, or None if they differ."""
        values = {self.io.read_int(p / n) for p in self.policies
                  for n in ("scaling_min_freq", "scaling_max_freq")}
        return values.pop() * 1000 if len(values) == 1 else None

    def current_hz(self) -> list[int]:
        return [self.io.read_int(p / "scaling_cur_freq") * 1000 for p in self.policies]

    def restore(self, snapshot: dict[Path, tuple[int, int]]) -> None:
        restore_range(self.io, [(p / "scaling_min_freq", p / "scaling_max_freq", lo, hi)
                                for p, (lo, hi) in snapshot.items()], self.name)


@dataclass
class DevfreqDomain:
    """A devfreq device (the GPU) pinned with min_freq = max_freq, in Hz."""

    io: SysfsIO
    path: Path
    name: str = "gpu"

    @property
    def available_hz(self) -> tuple[int, ...]:
        return tuple(sorted(self.io.read_ints(self.path / "available_frequencies")))

    def snapshot(self) -> tuple[int, int]:
        return self.io.read_int(self.path / "min_freq"), self.io.read_int(self.path / "max_freq")

    def pin(self, freq_hz: int) -> None:
        write_range(self.io, self.path / "min_freq", self.path / "max_freq", freq_hz, freq_hz)

    def pinned_hz(self) -> int | None:
        values = {self.io.read_int(self.path / n) for n in ("min_freq", "max_freq")}
        return values.pop() if len(values) == 1 else None

    def current_hz(self) -> list[int]:
        return [self.io.read_int(self.path / "cur_freq")]

    def restore(self, snapshot: tuple[int, int]) -> None:
        restore_range(self.io, [(self.path / "min_freq", self.path / "max_freq", *snapshot)],
                      self.name)


# EMC rates are >= 40.8 MHz; a list whose largest value is below this is in kHz (some bpmp
# `possible_rates` nodes are), one above it in Hz.
_KHZ_LIST_BELOW = 10_000_000


@dataclass
class BpmpEmcDomain:
    """The memory clock through bpmp debugfs (T186/T194/T234): lock, then write the rate in Hz."""

    io: SysfsIO
    clk: Path          # .../bpmp/debug/clk/emc
    rates_file: Path   # possible_rates
    name: str = "emc"

    @property
    def available_hz(self) -> tuple[int, ...]:
        rates = self.io.read_ints(self.rates_file)
        scale = 1000 if rates and max(rates) < _KHZ_LIST_BELOW else 1
        return tuple(sorted(r * scale for r in rates))

    def snapshot(self) -> tuple[int, int]:
        return self.io.read_int(self.clk / "mrq_rate_locked"), self.io.read_int(self.clk / "rate")

    def pin(self, freq_hz: int) -> None:
        self.io.write(self.clk / "mrq_rate_locked", 1)
        self.io.write(self.clk / "rate", freq_hz)

    def pinned_hz(self) -> int | None:
        """The rate, if the clock is locked."""
        locked = self.io.read_int(self.clk / "mrq_rate_locked")
        return self.io.read_int(self.clk / "rate") if locked else None

    def current_hz(self) -> list[int]:
        return [self.io.read_int(self.clk / "rate")]

    def restore(self, snapshot: tuple[int, int]) -> None:
        """The rate first, then the lock; a refused rate still unlocks (and is retried)."""
        locked, rate = snapshot
        restore_nodes(self.io, [(self.clk / "rate", rate), (self.clk / "mrq_rate_locked", locked)],
                      self.name)


ClockDomain = CpuDomain | DevfreqDomain | BpmpEmcDomain
