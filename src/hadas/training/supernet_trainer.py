"""Supernet training with the sandwich rule and in-place distillation (AttentiveNAS recipe).

Each step trains the largest sub-network on the labels (label smoothing), then the smallest and
N random ones on the largest's soft predictions, accumulating gradients, then one SGD step.
Dropout and drop-connect (`model.dropout`, `model.drop_connect`) are on while the largest
sub-network is trained and off for the others, as in the original training script.
A checkpoint is written atomically after every epoch (and before the first one), so a crash
or Ctrl-C loses at most the epoch in flight and `resume=True` continues from it. Everything
random is a function of (seed, epoch), so a resumed run equals an uninterrupted one.

Under torchrun (`training/distributed.py`), `train.batch_size` is the global batch: each of the
N processes trains its 1/N shard of every batch, on the same sub-networks, and the gradients are
averaged before each step, so the optimisation (and the learning rate) is the same for any N,
up to BatchNorm's batch statistics, which are per process (as in AttentiveNAS, sync_bn off).
BN running statistics are averaged over the processes after every epoch (they are not used to
evaluate: every sub-network re-estimates its own), so all ranks hold the same weights, and a
check at the end says so. Only rank 0 writes the checkpoint; any number of processes resumes it.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from hadas.config import HadasConfig
from hadas.data import DataSplits, TensorLoader, load_data
from hadas.errors import CheckpointError, ConfigError
from hadas.model import Supernet, create_supernet, load_supernet_state, read_checkpoint, save_atomic
from hadas.model.checkpoint import FORMAT
from hadas.training.distributed import SINGLE, World, weights_digest
from hadas.training.schedule import warmup_cosine_lr

CHECKPOINT_NAME = "supernet.pt"


@dataclass
class TrainResult:
    checkpoint: Path
    epochs_done: int
    history: list[dict[str, float]]
    resumed_from: int
    world: World = SINGLE
    digest: str = ""  # sha256 of the final weights, checked equal on every rank


def soft_cross_entropy(logits: torch.Tensor, soft_targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against a teacher's probabilities (in-place distillation)."""
    return -(soft_targets * F.log_softmax(logits, dim=1)).sum(1).mean()


def _param_groups(net: Supernet, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on conv/linear weights only, not on BN parameters or biases."""
    decay = [p for p in net.parameters() if p.dim() > 1]
    no_decay = [p for p in net.parameters() if p.dim() <= 1]
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def train_supernet(cfg: HadasConfig, out_dir: str | Path, device: torch.device,
                   resume: bool = False, data: DataSplits | None = None,
                   progress: bool = True,
                   on_epoch: Callable[[int, dict[str, float]], None] | None = None,
                   world: World = SINGLE) -> TrainResult:
    """Train (or resume training) the supernet of `cfg`; returns the final checkpoint path.
    `world`: this process's place in a torchrun job; `on_epoch` is called on rank 0 only."""
    out_dir = Path(out_dir)
    path = out_dir / CHECKPOINT_NAME
    tc = cfg.train
    world.shard_size(tc.batch_size, "train.batch_size")  # divisible, or a clear error
    data = data or load_data(cfg.data)
    torch.manual_seed(cfg.seed)  # the initial weights are a function of the seed too
    # channels_last: about 4x faster convolution backward on CPU (bench/README.md)
    net = create_supernet(cfg).to(  # type: ignore[call-overload]  # stub: no device + format
        device, memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(_param_groups(net, tc.weight_decay), lr=tc.base_lr,
                                momentum=tc.momentum, nesterov=tc.nesterov)
    amp = device.type == "cuda" and tc.mixed_precision
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    start_epoch, history = 0, []
    state = world.from_main(lambda: _resume_state(path, resume, cfg))  # rank 0 reads, all load
    if state is not None:
        load_supernet_state(net, state)
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        start_epoch, history = state["epoch"], state["history"]
    elif tc.pretrained and world.main:
        load_supernet_state(net, read_checkpoint(tc.pretrained), new_classifier=True)
    world.broadcast_module(net)  # every rank starts from rank 0's weights

    def save(epoch: int) -> None:
        save_atomic({"format": FORMAT, "config": cfg.to_dict(),
                     "config_fingerprint": cfg.supernet_fingerprint, "epoch": epoch,
                     "state_dict": net.state_dict(), "optimizer": optimizer.state_dict(),
                     "scaler": scaler.state_dict(), "history": history}, path)

    if start_epoch == 0 and world.main:
        save(0)  # a usable checkpoint exists from the start
    loader = TensorLoader(data.train, tc.batch_size, mean=data.mean, std=data.std, device=device,
                          shuffle=True, augment=cfg.data.augment, drop_last=True, seed=cfg.seed,
                          rank=world.rank, world_size=world.size)
    steps_per_epoch = len(loader)
    if steps_per_epoch == 0:
        raise ConfigError("train.batch_size", f"{tc.batch_size} is larger than the training "
                          f"split ({len(data.train)} images)")
    total_steps = tc.epochs * steps_per_epoch
    space = net.space
    for epoch in range(start_epoch, tc.epochs):
        loader.set_epoch(epoch)
        # the same sub-networks on every rank: drawn in step order from a (seed, epoch) stream
        rng = np.random.default_rng([cfg.seed, epoch])
        # dropout masks: per rank, as in any data-parallel run (rank 0 as on one process)
        torch.manual_seed(world.rank_seed(cfg.seed * 100_003 + epoch))
        net.train()
        sums, seen, t0 = {"loss_max": 0.0, "loss_min": 0.0}, 0, time.perf_counter()
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{tc.epochs}",
                   disable=not (progress and world.main), leave=False, unit="batch")
        for i, (x, y) in enumerate(bar):
            x = x.contiguous(memory_format=torch.channels_last)
            lr = warmup_cosine_lr(epoch * steps_per_epoch + i, total_steps,
                                  tc.warmup_epochs * steps_per_epoch, tc.base_lr, tc.warmup_lr)
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            arches = [space.largest(), space.smallest()]
            arches += [space.sample(rng) for _ in range(tc.num_random_subnets)]
            teacher = None
            for j, arch in enumerate(arches):
                net.activate(arch)
                with torch.autocast("cuda", dtype=torch.float16) if amp else nullcontext():
                    # dropout and drop-connect on the largest only (AttentiveNAS recipe)
                    logits = net(x, regularize=j == 0)
                    if teacher is None or not tc.inplace_distill:
                        loss = F.cross_entropy(logits, y, label_smoothing=tc.label_smoothing)
                    else:
                        loss = soft_cross_entropy(logits.float(), teacher)
                if j == 0:
                    teacher = F.softmax(logits.detach().float(), dim=1)
                    sums["loss_max"] += loss.item() * len(y)
                elif j == 1:
                    sums["loss_min"] += loss.item() * len(y)
                scaler.scale(loss).backward()
            world.average_gradients(net.parameters())
            if tc.grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(net.parameters(), tc.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            seen += len(y)
            bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.4f}",
                            img_s=f"{seen * world.size / (time.perf_counter() - t0):.0f}")
        world.average_buffers(net)  # BN running statistics: the mean over the ranks
        loss_max, loss_min, images = world.sum([sums["loss_max"], sums["loss_min"], seen], device)
        record = {"epoch": epoch + 1, "loss_max": loss_max / max(images, 1),
                  "loss_min": loss_min / max(images, 1), "lr": lr,
                  "seconds": time.perf_counter() - t0,
                  "images_per_s": images / (time.perf_counter() - t0)}
        history.append(record)
        if world.main:
            save(epoch + 1)
            if on_epoch:
                on_epoch(epoch + 1, record)
    digest = weights_digest(net.state_dict())
    world.check_identical(digest, "trained weights")
    return TrainResult(path, tc.epochs, history, start_epoch, world, digest)


def _resume_state(path: Path, resume: bool, cfg: HadasConfig) -> dict[str, Any] | None:
    """The checkpoint to continue, None to start afresh; refuses to overwrite or mix configs."""
    if path.exists() and not resume:
        raise CheckpointError(f"{path} exists: pass --resume to continue it, or use another --out")
    if not (resume and path.exists()):
        return None
    state = read_checkpoint(path)
    if state.get("config_fingerprint") != cfg.supernet_fingerprint:
        raise CheckpointError(f"{path} was written for another config (supernet, data or "
                              "training settings differ); use another --out or drop --resume")
    return state
