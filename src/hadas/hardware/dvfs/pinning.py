"""Pin a board's clocks for a while (`hadas dvfs --set`), and list what it exposes."""
from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hadas.errors import ConfigError
from hadas.hardware.dvfs.control import DvfsControl


MAX_HOLD_S = 7 * 24 * 3600.0


def pin_clocks(setting: Mapping[str, int], hold_s: float | None = None, dry_run: bool = False,
               sysfs_root: str | Path = "/") -> dict[str, int]:
    """Pin clocks, hold them `hold_s` seconds (None: until Ctrl-C / SIGTERM), restore them.
    Returns what the board reported while pinned."""
    if hold_s is not None and not 0 < hold_s <= MAX_HOLD_S:  # NaN fails too
        raise ConfigError("hold_s", f"must be a number of seconds in (0, {MAX_HOLD_S:g}], got "
                          f"{hold_s}")
    with DvfsControl(sysfs_root, dry_run=dry_run) as dvfs:
        applied = dvfs.apply(setting)
        print(f"{'dry-run: would pin' if dry_run else 'pinned'} "
              + ", ".join(f"{d}={hz}" for d, hz in applied.items()), flush=True)
        if not dry_run:
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends the hold; clocks restored
                time.sleep(hold_s) if hold_s is not None else threading.Event().wait()
    return applied


def board_tables(sysfs_root: str | Path = "/") -> dict[str, Any]:
    """The clock domains this board exposes (Hz) and, for each missing one, why."""
    dvfs = DvfsControl(sysfs_root)
    return {"dvfs_hz": {d: list(t) for d, t in dvfs.tables().items()}, "missing": dvfs.missing}
