"""Backbone accuracy by weight inheritance: extract, re-estimate BatchNorm, measure top-1."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hadas.config import EvalConfig
from hadas.data import DataSplits, TensorLoader
from hadas.model import Supernet
from hadas.space import Backbone
from hadas.training.inheritance import Inherit, inherit


@dataclass(frozen=True)
class BackboneEvaluation:
    backbone: Backbone
    top1: float          # percent on the evaluation split
    mflops: float        # published convention (MACs / 1e6)
    mparams: float
    n_eval: int
    split: str


@torch.no_grad()
def top1_accuracy(net: nn.Module, loader: TensorLoader) -> float:
    """Top-1 accuracy in percent over every batch of the loader (eval mode)."""
    net.eval()
    correct = total = 0
    for x, y in loader:
        correct += (net(x).argmax(1) == y).sum().item()
        total += len(y)
    return 100.0 * correct / max(total, 1)


def evaluation_loader(data: DataSplits, cfg: EvalConfig, split: str,
                      device: torch.device | str) -> TensorLoader:
    return TensorLoader(data.split(split), cfg.batch_size, mean=data.mean, std=data.std,
                        device=device)


def evaluate_backbone(supernet: Supernet, backbone: Backbone, data: DataSplits, cfg: EvalConfig,
                      split: str = "test", seed: int = 0,
                      device: torch.device | str | None = None,
                      inherited: Inherit | None = None) -> BackboneEvaluation:
    """Top-1 of `backbone` with inherited weights and re-estimated BN (the supernet is
    untouched); `inherited`: an `Inheritance` of the same supernet, data, config and seed."""
    device = device or next(supernet.parameters()).device
    net = (inherited(backbone) if inherited is not None
           else inherit(supernet, backbone, data, cfg, device, seed))
    acc = top1_accuracy(net, evaluation_loader(data, cfg, split, device))
    sk = net.skeleton
    return BackboneEvaluation(backbone, acc, sk.mflops, sk.mparams, len(data.split(split)), split)
