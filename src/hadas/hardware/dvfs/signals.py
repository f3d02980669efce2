"""Run a clean-up on SIGINT/SIGTERM/SIGHUP before the previous handler; put the old handlers back.

A Python signal handler runs between any two bytecodes of the main thread, so a clean-up run
from the handler can interleave with a sysfs write already under way (the write then lands after
the restore and the clock stays pinned). Code that changes clocks therefore runs inside
`critical()`: a signal arriving there is only recorded, and acted upon (clean-up, then the
previous handler) as soon as the outermost critical section of the main thread ends.
"""
from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

# SIGHUP: a dropped SSH session must not leave the clocks pinned (absent on Windows).
SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None))
                if s is not None)

_Action = Callable[[], None]


class _Deferral:
    """Critical-section depth of the main thread and the signal actions it held back."""

    def __init__(self) -> None:
        self.depth = 0
        self.pending: list[_Action] = []

    def handle(self, act: _Action) -> None:
        """From a handler: act now, or after the critical section if one is running."""
        if self.depth:
            self.pending.append(act)
        else:
            act()

    def leave(self) -> None:
        self.depth -= 1
        if not self.depth and self.pending:
            acts, self.pending = self.pending, []
            for act in acts:  # the first to raise (SystemExit, KeyboardInterrupt) ends the rest
                act()


_DEFERRAL = _Deferral()


@contextmanager
def critical() -> Iterator[None]:
    """Hold back SIGINT/SIGTERM/SIGHUP actions of `cleanup_on_signals` until the block ends.
    Only the main thread runs Python handlers; other threads are guarded by their callers' locks."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _DEFERRAL.depth += 1
    try:
        yield
    finally:
        _DEFERRAL.leave()


@contextmanager
def cleanup_on_signals(cleanup: Callable[[], None]) -> Iterator[bool]:
    """Inside the block, SIGINT/SIGTERM/SIGHUP first run `cleanup`, then what was installed
    before (SIGINT: KeyboardInterrupt by default; SIGTERM/SIGHUP with the default action:
    SystemExit(128 + signum)); inside `critical()` both wait until the section ends. A failed
    clean-up is printed to stderr and the signal still takes effect. Ignored signals stay
    ignored. Handlers can only be set in the main thread; elsewhere this yields
    False and does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield False
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}

    def handler(signum: int, frame: FrameType | None) -> None:
        def act() -> None:
            try:
                cleanup()
            except Exception as exc:  # the signal must still take effect: report and go on
                print(f"clean-up after signal {signum} failed: {exc}", file=sys.stderr,
                      flush=True)
            before = previous[signum]
            if callable(before):
                before(signum, frame)
            elif before == signal.SIG_DFL:
                raise SystemExit(128 + signum)

        _DEFERRAL.handle(act)

    for s, before in previous.items():
        if before != signal.SIG_IGN:
            signal.signal(s, handler)
    try:
        yield True
    finally:
        for s, before in previous.items():
            signal.signal(s, before if before is not None else signal.SIG_DFL)
