"""Exit training, once per backbone: every candidate head at once, backbone frozen.
(`train_heads` is the recipe's loop; `hadas.exits.shared` runs it for a bank of heads shared
by the whole supernet.)

One backbone forward per batch feeds every head. Loss per head: cross-entropy with the label
plus distillation from the final classifier (KL at temperature T, scaled by T^2), averaged over
heads; plus binary cross-entropy of the confidence branch against the head's correctness when
confidence heads are enabled. SGD with Nesterov momentum, linear warm-up from
base_lr x warmup_lr_factor, then linear decay to zero at the last epoch (the HADAS recipe:
lr 0.01, 5 warm-up epochs, 30 epochs, batch 64, weight decay 1e-5 on weights only, gradient
clipping 1.0). Then the heads' BatchNorm statistics are re-estimated.

Under torchrun the rules of supernet training apply: `exits.batch_size` is the global batch,
each process trains on its shard, gradients are averaged before each step, rank 0 writes.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from hadas.config import ExitsConfig
from hadas.data import DataSplits, TensorLoader
from hadas.errors import CorruptFileError
from hadas.exits.network import MultiExitNetwork
from hadas.model import read_stored_checkpoint, save_atomic
from hadas.training.distributed import SINGLE, World, weights_digest


def exit_lr(step: int, total_steps: int, warmup_steps: int, cfg: ExitsConfig) -> float:
    """Linear warm-up, then linear decay to zero."""
    if step < warmup_steps:
        start = cfg.base_lr * cfg.warmup_lr_factor
        return start + (cfg.base_lr - start) * step / warmup_steps
    return cfg.base_lr * max(0.0, 1.0 - (step - warmup_steps) / max(1, total_steps - warmup_steps))


def head_losses(logits: list[torch.Tensor], confidence: list[torch.Tensor | None],
                y: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean over heads of cross-entropy + T^2 x KL to the teacher's log-probabilities at
    temperature T (+ the confidence branch's binary cross-entropy against correctness)."""
    total = y.new_zeros((), dtype=torch.float32)
    for lg, conf in zip(logits, confidence):
        student = F.log_softmax(lg / temperature, dim=1)
        kd = F.kl_div(student, teacher, log_target=True, reduction="batchmean")
        total = total + F.cross_entropy(lg, y) + temperature ** 2 * kd
        if conf is not None:
            right = (lg.argmax(1) == y).float()
            total = total + F.binary_cross_entropy(conf, right)
    return total / len(logits)


def exit_loss(net: MultiExitNetwork, x: torch.Tensor, y: torch.Tensor,
              temperature: float) -> torch.Tensor:
    with torch.no_grad():
        feats, final = net.backbone_features(x)
        teacher = F.log_softmax(final.float() / temperature, dim=1)
    out = net.heads_forward(feats)
    return head_losses(out.logits, out.confidence, y, teacher, temperature)


# loss of one batch (x, y); the generator is the epoch's, seeded by (seed, epoch)
BatchLoss = Callable[[torch.Tensor, torch.Tensor, np.random.Generator], torch.Tensor]


def train_exits(net: MultiExitNetwork, data: DataSplits, cfg: ExitsConfig, checkpoint: Path,
                device: torch.device, seed: int = 0, augment: bool = True,
                progress: bool = True,
                on_epoch: Callable[[int, float], None] | None = None,
                world: World = SINGLE) -> list[dict[str, float]]:
    """Train the heads of `net` (backbone frozen); resumes from `checkpoint` if it holds a
    partial run, and writes it atomically after every epoch (rank 0). Returns the per-epoch
    history."""
    net.backbone.eval().requires_grad_(False)
    return train_heads(net.heads, lambda x, y, _: exit_loss(net, x, y, cfg.distill_temperature),
                       data, cfg, checkpoint, device, seed, augment, progress, on_epoch, world)


def train_heads(heads: nn.Module, batch_loss: BatchLoss, data: DataSplits, cfg: ExitsConfig,
                checkpoint: Path, device: torch.device, seed: int = 0, augment: bool = True,
                progress: bool = True,
                on_epoch: Callable[[int, float], None] | None = None,
                world: World = SINGLE, passes: int = 1, desc: str = "exits"
                ) -> list[dict[str, float]]:
    """The exit recipe on `heads`, each batch's loss from `batch_loss`; resumable from
    `checkpoint` (written atomically after every epoch by rank 0). `passes`: sub-networks
    each batch goes through (history's `images` counts image passes)."""
    world.shard_size(cfg.batch_size, "exits.batch_size")  # divisible, or a clear error
    decay = [p for p in heads.parameters() if p.dim() > 1]
    other = [p for p in heads.parameters() if p.dim() <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": cfg.weight_decay},
                           {"params": other, "weight_decay": 0.0}],
                          lr=cfg.base_lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    start, history = 0, []
    state = world.from_main(
        lambda: read_stored_checkpoint(checkpoint) if checkpoint.exists() else None)
    if state is not None:
        try:
            heads.load_state_dict(state["heads"])
            opt.load_state_dict(state["optimizer"])
            start, history = int(state["epoch"]), list(state["history"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CorruptFileError(checkpoint, f"not a training state of these heads: "
                                   f"{str(exc).splitlines()[0] if str(exc) else exc!r}") from None
    world.broadcast_module(heads)
    loader = TensorLoader(data.train, cfg.batch_size, mean=data.mean, std=data.std, device=device,
                          shuffle=True, augment=augment, drop_last=True, seed=seed,
                          rank=world.rank, world_size=world.size)
    steps = len(loader)
    for epoch in range(start, cfg.epochs):
        loader.set_epoch(epoch)
        torch.manual_seed(world.rank_seed(seed * 100_003 + epoch))
        rng = np.random.default_rng([seed, epoch])  # the same draws on every rank
        heads.train()
        t0, loss_sum, seen = time.perf_counter(), 0.0, 0
        bar = tqdm(loader, desc=f"{desc} epoch {epoch + 1}/{cfg.epochs}",
                   disable=not (progress and world.main), leave=False, unit="batch")
        for i, (x, y) in enumerate(bar):
            lr = exit_lr(epoch * steps + i, cfg.epochs * steps, cfg.warmup_epochs * steps, cfg)
            for g in opt.param_groups:
                g["lr"] = lr
            loss = batch_loss(x.contiguous(memory_format=torch.channels_last), y, rng)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            world.average_gradients(heads.parameters())
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(heads.parameters(), cfg.grad_clip)
            opt.step()
            loss_sum += loss.item() * len(y)
            seen += len(y)
            bar.set_postfix(loss=f"{loss.item():.3f}",
                            img_s=f"{seen * world.size / (time.perf_counter() - t0):.0f}")
        world.average_buffers(heads)
        loss_sum, images = world.sum([loss_sum, seen], device)
        history.append({"epoch": epoch + 1, "loss": loss_sum / max(images, 1),
                        "seconds": time.perf_counter() - t0, "images": images * passes})
        if world.main:
            save_atomic({"epoch": epoch + 1, "heads": heads.state_dict(),
                         "optimizer": opt.state_dict(), "history": history}, checkpoint)
            if on_epoch:
                on_epoch(epoch + 1, history[-1]["loss"])
    heads.eval()
    if world.parallel:  # the digest only serves to compare the ranks
        world.check_identical(weights_digest(heads.state_dict()), "exit heads")
    return history
