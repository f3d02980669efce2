"""One search per run directory: an advisory lock the kernel releases when its process dies.

`run_lock(run_dir)` holds `flock` on `RUN_DIR/search.lock` for the whole search and writes
who holds it (pid, host, start time) into the file. A second search is refused with a line
naming that process. A lock left by a process that died (SIGKILL, a lost node) is free again
at once: flock locks die with their process, so a stale file is simply taken over.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hadas.storage.database import RunDatabaseError

LOCK_NAME = "search.lock"


@contextmanager
def run_lock(run_dir: str | Path) -> Iterator[Path]:
    """Hold the run directory's lock (creating the directory); RunDatabaseError if taken."""
    path = Path(run_dir) / LOCK_NAME
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise RunDatabaseError(f"cannot use {path.parent} as a run directory: "
                               f"{exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise RunDatabaseError(f"{path.parent} is in use by {_holder(fd)}: wait for it to "
                                   "finish or stop it, then rerun") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "started": time.time()}).encode())
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)  # released: nobody holds it
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _holder(fd: int) -> str:
    """Who the lock file says holds it."""
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(data["started"])))
        return f"process {int(data['pid'])} on {data['host']} (a search started {started})"
    except (ValueError, KeyError, TypeError):
        return "another process (a search)"
