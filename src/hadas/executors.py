"""Executors: where the evaluators live and tasks run. Same tasks, same results, anywhere.

- `SerialExecutor`: in this process (default).
- `ProcessExecutor`: local worker processes (spawned), each building its evaluators (and so
  loading the supernet and the data) once.
- `RayExecutor`: Ray actors on an existing or local cluster, each holding its evaluators.
Only the driver writes to the run database; results come back as plain JSON-ready values.
Torch-free (a shared leaf like `files`): the search drives any `Executor` without loading models.
A new executor is one class and one `EXECUTORS.register(name, factory)`.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Protocol, TypeVar

from hadas.errors import ConfigError, HadasError
from hadas.registry import Registry

_worker_state: Any = None
Item = TypeVar("Item")
Value = TypeVar("Value")


class Executor(Protocol):
    """Runs `fn(state, item)` where the state (the evaluators) lives, results as they finish."""

    def imap(self, fn: Callable[[Any, Item], Value], items: Sequence[Item]
             ) -> Iterator[tuple[int, Value]]: ...

    def close(self) -> None: ...


class SerialExecutor:
    def __init__(self, state: Any):
        self.state = state

    def imap(self, fn: Callable[[Any, Item], Value], items: Sequence[Item]
             ) -> Iterator[tuple[int, Value]]:
        """(index, fn(state, item)) for every item, as they finish."""
        for i, item in enumerate(items):
            yield i, fn(self.state, item)

    def close(self) -> None:
        """Nothing to release."""


def _init_worker(build: Callable[..., Any], threads: int, devices: Any = None) -> None:
    """Build this worker's evaluators, with `threads` intra-op threads (set before torch loads,
    so that workers sharing the cores do not oversubscribe them) and, when `devices` (a queue)
    is given, on the next device of it: one worker per GPU."""
    global _worker_state
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    _worker_state = build(device=devices.get()) if devices is not None else build()


def _call(fn: Callable[[Any, Any], Any], item: Any) -> Any:
    return fn(_worker_state, item)


class ProcessExecutor:
    """`devices` (e.g. one "cuda:i" per GPU) gives each worker its own device; `build` then
    takes a `device` keyword."""

    def __init__(self, build: Callable[..., Any], workers: int | None = None,
                 devices: Sequence[str] | None = None):
        self.workers = workers or (len(devices) if devices else
                                   max(1, (os.cpu_count() or 1) // 2))
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        context = multiprocessing.get_context("spawn")
        queue = None
        if devices:
            if self.workers > len(devices):
                raise ConfigError("workers", f"{self.workers} workers for {len(devices)} "
                                  "devices: at most one worker per device")
            queue = context.Queue()
            for d in devices[: self.workers]:
                queue.put(d)
        self.pool = ProcessPoolExecutor(self.workers, context, initializer=_init_worker,
                                        initargs=(build, threads, queue))

    def imap(self, fn: Callable[[Any, Item], Value], items: Sequence[Item]
             ) -> Iterator[tuple[int, Value]]:
        pending = {self.pool.submit(_call, fn, item): i for i, item in enumerate(items)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield pending.pop(future), future.result()

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)


class RayExecutor:
    def __init__(self, build: Callable[[], Any], address: str | None = None,
                 workers: int | None = None):
        try:
            import ray
        except ImportError:
            raise HadasError("the ray executor needs Ray: pip install 'hadas[ray]'") from None
        self.ray = ray
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     num_cpus=None if address else os.cpu_count())

        @ray.remote(num_cpus=1)
        class Worker:
            def __init__(self, build: Callable[[], Any]):
                _init_worker(build, 1)

            def run(self, fn: Callable[[Any, Any], Any], item: Any) -> Any:
                return _call(fn, item)

        n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.actors = [Worker.remote(build)  # type: ignore[attr-defined]  # made by ray.remote
                       for _ in range(n)]

    def imap(self, fn: Callable[[Any, Item], Value], items: Sequence[Item]
             ) -> Iterator[tuple[int, Value]]:
        free, queue = list(self.actors), list(enumerate(items))
        pending: dict[Any, tuple[int, Any]] = {}  # ray object ref -> (item index, actor)
        while queue or pending:
            while free and queue:
                actor, (i, item) = free.pop(), queue.pop(0)
                pending[actor.run.remote(fn, item)] = (i, actor)
            done, _ = self.ray.wait(list(pending), num_returns=1)
            i, actor = pending.pop(done[0])
            free.append(actor)
            yield i, self.ray.get(done[0])

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)


ExecutorFactory = Callable[..., Executor]
EXECUTORS: Registry[ExecutorFactory] = Registry("executor", "executor")
EXECUTORS.register("serial", lambda build, local=None, **_: SerialExecutor(
    local if local is not None else build()))
EXECUTORS.register("process", lambda build, workers=None, devices=None, **_: ProcessExecutor(
    build, workers, devices))
EXECUTORS.register("ray", lambda build, address=None, workers=None, **_: RayExecutor(
    build, address, workers))


def create_executor(name: str, build: Callable[..., Any], local: Any = None,
                    address: str | None = None, workers: int | None = None,
                    devices: Sequence[str] | None = None) -> Executor:
    """The executor registered as `name`: `serial` runs on `local` (or builds it), `process`
    and `ray` build one state per worker; `devices` spreads process workers over GPUs."""
    return EXECUTORS.get(name)(build, local=local, address=address, workers=workers,
                               devices=devices)
