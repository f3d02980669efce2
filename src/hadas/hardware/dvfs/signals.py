"""Run a clean-up on SIGINT/SIGTERM before the previous handler; put the old handlers back."""
from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def cleanup_on_signals(cleanup: Callable[[], None]) -> Iterator[bool]:
    """Inside the block, SIGINT/SIGTERM first run `cleanup`, then what was installed before
    (SIGINT: KeyboardInterrupt by default; SIGTERM with the default action: SystemExit(143)).
    Handlers can only be set in the main thread; elsewhere this yields False and does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield False
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}

    def handler(signum: int, frame: FrameType | None) -> None:
        cleanup()
        before = previous[signum]
        if callable(before):
            before(signum, frame)
        elif before == signal.SIG_DFL:
            raise SystemExit(128 + signum)

    for s, before in previous.items():
        if before != signal.SIG_IGN:
            signal.signal(s, handler)
    try:
        yield True
    finally:
        for s, before in previous.items():
            signal.signal(s, before if before is not None else signal.SIG_DFL)
