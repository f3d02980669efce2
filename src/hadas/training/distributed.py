"""Data parallelism under torchrun: the process group from the environment, gradients averaged
once per optimiser step, decisions taken on rank 0 and shared, collectives bounded in time.

The user's launcher sets the group up as torchrun does (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR, MASTER_PORT); without WORLD_SIZE > 1 everything here is a no-op. NCCL on CUDA
(one GPU per process, cuda:LOCAL_RANK), gloo on CPU.

No DistributedDataParallel: a sandwich step runs several sub-networks, each using a different
slice of the shared weights, so gradients are accumulated locally over the whole step and
all-reduced once, as one flat buffer, before the optimiser step. Every rank trains the same
sub-networks (the same seeded draws), so the set of parameters with a gradient is the same on
every rank.
"""
from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar, cast

import torch
import torch.distributed as dist

from hadas.errors import ConfigError, HadasError

T = TypeVar("T")
DEFAULT_TIMEOUT_S = 300.0  # a collective that waits longer than this stops the job


class DistributedError(HadasError):
    """A collective failed: another rank stopped, or did not answer within the timeout."""


@dataclass(frozen=True)
class World:
    """This process's place in the job: rank of size (1 of 1 without torchrun)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.size > 1

    def __str__(self) -> str:
        return f"rank {self.rank} of {self.size}"

    def rank_seed(self, seed: int) -> int:
        """A seed for what differs per rank (dropout masks); rank 0 keeps `seed` itself, so one
        process draws as it always did."""
        return seed + 1_000_003 * self.rank

    def shard_size(self, batch_size: int, field: str) -> int:
        """The per-process share of a global batch; it must divide evenly."""
        if batch_size % self.size:
            raise ConfigError(field, f"{batch_size} (the global batch) is not divisible by the "
                              f"{self.size} processes; use a multiple of {self.size}")
        return batch_size // self.size

    def average_gradients(self, params: Iterable[torch.nn.Parameter]) -> None:
        """Replace each gradient by its mean over the ranks."""
        if self.parallel:
            grads = [p.grad for p in params if p.grad is not None]
            self._over_flat("all-reduce of the gradients", grads, dist.all_reduce, 1 / self.size)

    def average_buffers(self, module: torch.nn.Module) -> None:
        """Replace each floating-point buffer (BatchNorm running statistics) by its mean over
        the ranks, so that every rank holds the same state."""
        if self.parallel:
            buffers = [b.data for b in module.buffers() if b.is_floating_point()]
            self._over_flat("all-reduce of the BatchNorm statistics", buffers, dist.all_reduce,
                            1 / self.size)

    def sum(self, values: list[float], device: torch.device) -> list[float]:
        """Element-wise sum of `values` over the ranks (epoch statistics)."""
        if not self.parallel:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=device)
        self._collective("all-reduce of the epoch statistics", dist.all_reduce, t)
        return t.tolist()

    def broadcast_module(self, module: torch.nn.Module) -> None:
        """Make every parameter and buffer equal to rank 0's."""
        if self.parallel:
            with torch.no_grad():
                tensors = [t.data for t in [*module.parameters(), *module.buffers()]]
                self._over_flat("broadcast of the weights", tensors, dist.broadcast, src=0)

    def check_identical(self, digest: str, what: str) -> None:
        """Stop with a clear error unless every rank holds the same `digest` of `what`."""
        if not self.parallel:
            return
        digests: list[object] = [None] * self.size
        self._collective(f"comparison of the {what}", dist.all_gather_object, digests, digest)
        if len(set(digests)) > 1:
            raise DistributedError(f"{self}: the {what} differ between ranks "
                                   f"({', '.join(str(d)[:12] for d in digests)}); report this "
                                   "as a bug, with the command and the number of processes")

    def from_main(self, decide: Callable[[], T]) -> T:
        """Run `decide` on rank 0 only and return its result on every rank; a `HadasError` it
        raises is raised on every rank, so all ranks take the same branch."""
        if not self.parallel:
            return decide()
        box: list[tuple[str, Any] | None] = [None]
        if self.main:
            try:
                box[0] = ("ok", decide())
            except HadasError as exc:
                box[0] = ("error", exc)
        self._collective("broadcast from rank 0", dist.broadcast_object_list, box, src=0)
        kind, value = cast(tuple[str, Any], box[0])  # filled on every rank by the broadcast
        if kind == "error":
            raise value
        return cast(T, value)

    def _over_flat(self, what: str, tensors: list[torch.Tensor], op: Callable[..., object],
                   scale: float | None = None, **kwargs: object) -> None:
        """Apply a collective to `tensors` in place as one flat buffer per dtype (whatever their
        memory format), optionally scaling the result."""
        by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
        for t in tensors:
            by_dtype.setdefault(t.dtype, []).append(t)
        for group in by_dtype.values():
            flat = torch.cat([t.reshape(-1) for t in group])
            self._collective(what, op, flat, **kwargs)
            if scale is not None:
                flat *= scale
            offset = 0
            for t in group:
                t.copy_(flat[offset:offset + t.numel()].view(t.shape))
                offset += t.numel()

    def _collective(self, what: str, op: Callable[..., object], *args: object,
                    **kwargs: object) -> None:
        try:
            op(*args, **kwargs)
        except (RuntimeError, dist.DistError) as exc:
            raise DistributedError(
                f"{self}: the {what} failed ({_gist(exc)}): another rank stopped or did not "
                f"answer within {self.timeout_s:g} s; the last checkpoint is kept, rerun with "
                "--resume (any number of processes)") from None


SINGLE = World()


def _gist(exc: BaseException) -> str:
    """The first sentence of a backend error, without its source-file prefix."""
    text = re.sub(r"^\[[^\]]*\]\s*", "", str(exc).strip())
    return re.split(r"\.\s|\n", text, maxsplit=1)[0][:160] or type(exc).__name__


def weights_digest(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 of a state dict: names and values in name order, whatever the memory format."""
    h = hashlib.sha256()
    for name in sorted(state):
        h.update(name.encode())
        h.update(state[name].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def world_from_env(env: Mapping[str, str] = os.environ,
                   timeout_s: float = DEFAULT_TIMEOUT_S) -> World:
    """RANK, WORLD_SIZE and LOCAL_RANK as torchrun sets them (1 of 1 when unset)."""
    def number(name: str, default: int) -> int:
        text = env.get(name)
        if text is None:
            return default
        try:
            return int(text)
        except ValueError:
            raise ConfigError(name, f"expected an integer, got {text!r}") from None

    size = number("WORLD_SIZE", 1)
    if size < 1:
        raise ConfigError("WORLD_SIZE", f"must be >= 1, got {size}")
    rank, local_rank = number("RANK", 0), number("LOCAL_RANK", 0)
    if not 0 <= rank < size:
        raise ConfigError("RANK", f"must be in 0..{size - 1} for WORLD_SIZE {size}, got {rank}")
    if not (math.isfinite(timeout_s) and timeout_s > 0):
        raise ConfigError("collective_timeout", f"must be a finite number of seconds > 0, "
                          f"got {timeout_s}")
    return World(rank, size, local_rank, timeout_s)


def process_device(world: World, requested: torch.device) -> torch.device:
    """One GPU per process: cuda:LOCAL_RANK when CUDA is asked for under torchrun."""
    if not world.parallel or requested.type != "cuda" or requested.index is not None:
        return requested
    if world.local_rank >= torch.cuda.device_count():
        raise ConfigError("LOCAL_RANK", f"{world.local_rank}, but this node has "
                          f"{torch.cuda.device_count()} CUDA devices: start at most that many "
                          "processes per node (--nproc-per-node)")
    return torch.device("cuda", world.local_rank)


@contextmanager
def process_group(requested: torch.device,
                  timeout_s: float = DEFAULT_TIMEOUT_S) -> Iterator[tuple[World, torch.device]]:
    """This process's world and device; joins (and finally leaves) the process group that the
    environment describes. A group already set up by the caller is used as it is."""
    world = world_from_env(timeout_s=timeout_s)
    device = process_device(world, requested)
    if not world.parallel or dist.is_initialized():
        yield world, device
        return
    for name in ("MASTER_ADDR", "MASTER_PORT"):
        if name not in os.environ:
            raise ConfigError(name, f"not set, but WORLD_SIZE is {world.size}: start the "
                              "processes with torchrun (it sets both)")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    try:
        dist.init_process_group(backend, rank=world.rank, world_size=world.size,
                                timeout=timedelta(seconds=timeout_s))
    except (RuntimeError, dist.DistError, ValueError) as exc:
        raise DistributedError(f"{world}: could not join the {backend} process group at "
                               f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']} "
                               f"within {timeout_s:g} s ({str(exc).strip()[:200]})") from None
    try:
        yield world, device
        # leave together: a rank tearing gloo down while another still talks to it can abort
        # ("terminate called without an active exception", seen once in a loaded test run)
        dist.barrier()
    finally:
        dist.destroy_process_group()
