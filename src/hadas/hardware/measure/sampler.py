"""`PowerSampler`: a background thread turning power readings (mW) into energy (mJ)."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable


class PowerSampler:
    """Samples `read_power_mw` every `interval_s` and integrates with the trapezoid rule.

    `read_mj()` also takes a sample, so a window's energy is exact to its start and end."""

    def __init__(self, read_power_mw: Callable[[], float], interval_s: float = 0.005,
                 source: str = "power sampler", min_window_s: float = 1.0):
        self.read_power_mw = read_power_mw
        self.interval_s = interval_s
        self.source = source
        self.min_window_s = min_window_s
        self.n_samples = 0
        self._energy_mj = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._last = (time.monotonic(), read_power_mw())
        self._thread = threading.Thread(target=self._run, name="hadas-power", daemon=True)
        self._thread.start()

    def _sample(self) -> float:
        with self._lock:
            power_mw = self.read_power_mw()
            now = time.monotonic()
            t0, p0 = self._last
            self._energy_mj += (p0 + power_mw) / 2.0 * (now - t0)  # mW x s = mJ
            self._last = (now, power_mw)
            self.n_samples += 1
            return self._energy_mj

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def read_mj(self) -> float:
        return self._sample()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
