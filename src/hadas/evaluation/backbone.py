"""Backbone accuracy by weight inheritance: extract, re-estimate BatchNorm, measure top-1.

As in HADAS: BN statistics are reset and re-estimated as a cumulative average over N training
batches (64 batches of 64 in the original), then top-1 is measured on the evaluation split.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import nn

from hadas.config import EvalConfig
from hadas.data import DataSplits, TensorLoader
from hadas.model import Supernet
from hadas.space import Backbone


@dataclass(frozen=True)
class BackboneEvaluation:
    backbone: Backbone
    top1: float          # percent on the evaluation split
    mflops: float        # published convention (MACs / 1e6)
    mparams: float
    n_eval: int
    split: str


@torch.no_grad()
def recalibrate_bn(net: nn.Module, loader: TensorLoader, n_batches: int) -> int:
    """Reset every BatchNorm and re-estimate it as a cumulative average; returns images used."""
    momenta = {}
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            momenta[m] = m.momentum
            m.momentum = None  # cumulative moving average
    was_training = net.training
    net.train()
    seen = 0
    try:
        for x, _ in itertools.islice(loader, n_batches):
            net(x)
            seen += len(x)
    finally:
        for m, momentum in momenta.items():
            m.momentum = momentum
        net.train(was_training)
    return seen


@torch.no_grad()
def top1_accuracy(net: nn.Module, loader: TensorLoader) -> float:
    """Top-1 accuracy in percent over every batch of the loader (eval mode)."""
    net.eval()
    correct = total = 0
    for x, y in loader:
        correct += (net(x).argmax(1) == y).sum().item()
        total += len(y)
    return 100.0 * correct / max(total, 1)


def calibration_loader(data: DataSplits, cfg: EvalConfig, device: torch.device | str,
                       seed: int = 0) -> TensorLoader:
    """Shuffled training batches (no augmentation) for BN re-estimation, fixed by `seed`."""
    return TensorLoader(data.train, cfg.bn_calibration_batch_size, mean=data.mean, std=data.std,
                        device=device, shuffle=True, augment=False, seed=seed)


def evaluation_loader(data: DataSplits, cfg: EvalConfig, split: str,
                      device: torch.device | str) -> TensorLoader:
    return TensorLoader(data.split(split), cfg.batch_size, mean=data.mean, std=data.std,
                        device=device)


def evaluate_backbone(supernet: Supernet, backbone: Backbone, data: DataSplits, cfg: EvalConfig,
                      split: str = "test", seed: int = 0,
                      device: torch.device | str | None = None) -> BackboneEvaluation:
    """Top-1 of `backbone` with inherited weights and re-estimated BN (the supernet is untouched)."""
    device = device or next(supernet.parameters()).device
    net = supernet.extract(backbone).to(device, memory_format=torch.channels_last)
    recalibrate_bn(net, calibration_loader(data, cfg, device, seed), cfg.bn_calibration_batches)
    loader = evaluation_loader(data, cfg, split, device)
    acc = top1_accuracy(net, loader)
    sk = net.skeleton
    return BackboneEvaluation(backbone, acc, sk.mflops, sk.mparams, len(data.split(split)), split)
