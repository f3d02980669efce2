"""Weight inheritance: extract a sub-network and re-estimate its BatchNorm statistics.

As in HADAS: BN statistics are reset and re-estimated as a cumulative average over N training
batches (64 batches of 64 in the original), without augmentation, in a seeded order.
`Inheritance` keeps the statistics it estimated, so a backbone scored alone and then given
exits (or inherited again for any reason) has its BN re-estimated once.
"""
from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn

from hadas.config import EvalConfig
from hadas.data import DataSplits, TensorLoader
from hadas.errors import ConfigError
from hadas.model import Supernet, SubNetwork
from hadas.space import Backbone


def batchnorms(net: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def reestimate_bn(net: nn.Module, loader: TensorLoader, n_batches: int,
                   forward: Callable[[torch.Tensor], object] | None = None) -> int:
    """Reset every BatchNorm of `net` and re-estimate it as a cumulative average over
    `n_batches` (running `forward`, default `net`, on them); returns the images used.
    Only `net` is put in training mode, so a frozen backbone around it stays in eval mode."""
    norms = batchnorms(net)
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    was_training = net.training
    net.train()
    seen = 0
    try:
        for x, _ in itertools.islice(loader, n_batches):
            (forward or net)(x)
            seen += len(x)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        net.train(was_training)
    return seen


def bn_loader(data: DataSplits, cfg: EvalConfig, device: torch.device | str,
                       seed: int = 0) -> TensorLoader:
    """Shuffled full training batches (no augmentation) for BN re-estimation, fixed by `seed`.
    A last partial batch is left out: one image cannot give batch statistics after pooling."""
    if len(data.train) < cfg.bn_calibration_batch_size:
        raise ConfigError("evaluation.bn_calibration_batch_size",
                          f"{cfg.bn_calibration_batch_size} is larger than the training split "
                          f"({len(data.train)} images)")
    return TensorLoader(data.train, cfg.bn_calibration_batch_size, mean=data.mean, std=data.std,
                        device=device, shuffle=True, augment=False, drop_last=True, seed=seed)


def inherit(supernet: Supernet, backbone: Backbone, data: DataSplits, cfg: EvalConfig,
            device: torch.device | str, seed: int = 0) -> SubNetwork:
    """The static sub-network with inherited weights and re-estimated BN, in eval mode."""
    net = supernet.extract(backbone).to(  # type: ignore[call-overload]  # stub: device + format
        device, memory_format=torch.channels_last)
    reestimate_bn(net, bn_loader(data, cfg, device, seed), cfg.bn_calibration_batches)
    return net.eval()


Inherit = Callable[[Backbone], SubNetwork]


class Inheritance:
    """`inherit` for one supernet, data, evaluation config, device and seed, remembering the
    re-estimated BN statistics of the last `keep` backbones (a few kB each): inheriting one of
    them again copies its statistics instead of re-estimating them, which gives the same
    tensors (the estimate is a function of those five things and the backbone)."""

    def __init__(self, supernet: Supernet, data: DataSplits, cfg: EvalConfig,
                 device: torch.device | str, seed: int = 0, keep: int = 1024):
        self.supernet, self.data, self.cfg, self.device, self.seed = (supernet, data, cfg,
                                                                      device, seed)
        self.keep = keep
        self.estimated = 0  # backbones whose BN this object re-estimated
        self._stats: OrderedDict[Backbone, list[dict[str, torch.Tensor]]] = OrderedDict()

    def __call__(self, backbone: Backbone) -> SubNetwork:
        stats = self._stats.pop(backbone, None)
        if stats is None:
            net = inherit(self.supernet, backbone, self.data, self.cfg, self.device, self.seed)
            self.estimated += 1
            stats = [{k: v.clone() for k, v in m.state_dict().items() if "running" in k
                      or "num_batches" in k} for m in batchnorms(net)]
        else:
            net = self.supernet.extract(backbone).to(  # type: ignore[call-overload]
                self.device, memory_format=torch.channels_last)
            for m, saved in zip(batchnorms(net), stats):
                m.load_state_dict({**m.state_dict(), **saved})
            net.eval()
        self._stats[backbone] = stats
        while len(self._stats) > self.keep:
            self._stats.popitem(last=False)
        return net
