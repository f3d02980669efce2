"""`DvfsControl`: pin board clocks to values from the board's own tables, verify, always restore."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any

from hadas.errors import ConfigError
from hadas.hardware.dvfs.discover import discover
from hadas.hardware.dvfs.domains import ClockDomain
from hadas.hardware.dvfs.signals import cleanup_on_signals, critical
from hadas.hardware.dvfs.sysfs import DvfsError, SysfsIO

ORDER = ("gpu", "emc", "cpu")  # the published protocol: GPU, then EMC, then CPU


class DvfsControl:
    """Clock control of one board. Use as a context manager: on normal exit, exception,
    SIGINT, SIGTERM or SIGHUP every value it changed is written back. Each domain's pin and the
    whole restore are critical sections: a signal waits for them to finish (signals.py).

    `apply({"cpu": Hz, "gpu": Hz, "emc": Hz})` accepts any subset of the domains found;
    frequencies must be in the board's own lists; values are read back after `settle_s`."""

    def __init__(self, root: str | Path = "/", dry_run: bool = False, settle_s: float = 1.0,
                 log: Callable[[str], None] = print, io: SysfsIO | None = None):
        self.io = io or SysfsIO(root, dry_run, log)
        self.settle_s = settle_s
        self.domains, self.missing = discover(self.io)
        self._saved: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._stack: ExitStack | None = None

    @property
    def dry_run(self) -> bool:
        return self.io.dry_run

    def tables(self) -> dict[str, tuple[int, ...]]:
        """Available frequencies in Hz per domain found on the board."""
        return {name: d.available_hz for name, d in self.domains.items()}

    def validate(self, setting: Mapping[str, int]) -> dict[str, int]:
        """Check every domain and frequency before any write; ConfigError names what is allowed."""
        out = {}
        for name, value in setting.items():
            if name not in self.domains:
                reason = self.missing.get(name, "not a clock domain")
                raise ConfigError(f"dvfs.{name}", f"cannot be set on this board: {reason}",
                                  sorted(self.domains))
            allowed = self.domains[name].available_hz
            if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
                raise ConfigError(f"dvfs.{name}", f"{value!r} Hz is not an available frequency",
                                  allowed)
            out[name] = value
        return out

    def apply(self, setting: Mapping[str, int]) -> dict[str, int]:
        """Pin the given domains and return what the board reports (Hz; the request in dry-run)."""
        wanted = self.validate(setting)
        with self._lock:
            for name in sorted(wanted, key=ORDER.index):
                domain = self.domains[name]
                with critical():  # saved and pinned together, or a signal restores half a pin
                    if name not in self._saved:
                        self._saved[name] = domain.snapshot()
                    domain.pin(wanted[name])
            return wanted if self.dry_run else self._verify(wanted)

    def _verify(self, wanted: dict[str, int]) -> dict[str, int]:
        """Poll until every domain is pinned to its value and runs at it. A current clock counts
        when its nearest table entry is the target: some drivers report a measured rate."""
        deadline = time.monotonic() + self.settle_s
        while True:
            bad = None
            for name, hz in wanted.items():
                domain = self.domains[name]
                pinned, current = domain.pinned_hz(), domain.current_hz()
                table = domain.available_hz
                if pinned != hz or any(_nearest(table, c) != hz for c in current):
                    bad = (name, pinned, current)
                    break
            if bad is None:
                return dict(wanted)
            if time.monotonic() >= deadline:
                name, pinned, current = bad
                raise DvfsError(f"{name}: asked for {wanted[name]} Hz, the board holds "
                                f"{pinned if pinned is not None else 'no single value'} and runs "
                                f"at {', '.join(map(str, current))} Hz after {self.settle_s:g} s "
                                "(an nvpmodel cap or thermal throttling?)")
            time.sleep(0.05)

    def restore(self) -> None:
        """Write back every original value changed so far, in reverse order (idempotent). Every
        domain is tried; one that is not fully restored stays saved, so a later call retries it;
        one DvfsError reports them all."""
        with self._lock, critical():
            errors = []
            for name in sorted(self._saved, key=ORDER.index, reverse=True):
                domain: ClockDomain = self.domains[name]
                try:
                    domain.restore(self._saved[name])  # writes only nodes that differ
                except DvfsError as exc:
                    errors.append(str(exc))
                else:
                    del self._saved[name]
            if errors:
                raise DvfsError("restoring clocks failed: " + "; ".join(errors))

    def __enter__(self) -> "DvfsControl":
        self._stack = ExitStack()
        self._stack.enter_context(cleanup_on_signals(self.restore))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.restore()
        finally:
            if self._stack is not None:
                self._stack.close()
                self._stack = None


def _nearest(table: tuple[int, ...], hz: int) -> int:
    return min(table, key=lambda f: abs(f - hz)) if table else hz
