"""`Supernet`: the AttentiveNAS weight-sharing supernet, our own implementation.

`activate(backbone)` selects a sub-network in place (weight sharing, used for training);
`extract(backbone)` returns a static `SubNetwork` holding copies of the inherited weights.
Both give the same outputs in eval mode (tested).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hadas.model.ops import HardSigmoid, activation, drop_connect, resize_input, shortcut_pool
from hadas.model.shared import (SharedConv2d, SharedConvBN, SharedLinear,
                                centre_crop)
from hadas.model.subnet import SubNetwork
from hadas.space.backbone import Backbone
from hadas.space.backbone_space import BackboneSpace
from hadas.space.skeleton import Block, Skeleton, make_divisible
from hadas.space.supernet_spec import StageSpec, SupernetSpec


class SharedSqueezeExcite(nn.Module):
    def __init__(self, max_channels: int):
        super().__init__()
        reduced = make_divisible(max_channels // 4, 8)
        self.reduce = SharedConv2d(max_channels, reduced, bias=True)
        self.expand = SharedConv2d(reduced, max_channels, bias=True)
        self.gate = HardSigmoid()

    def forward(self, x: torch.Tensor, reduced: int) -> torch.Tensor:
        s = torch.relu(self.reduce(x.mean((2, 3), keepdim=True), reduced))
        return x * self.gate(self.expand(s, x.shape[1]))


class SharedMBBlock(nn.Module):
    """The supernet's MBConv block at one position; the active shape comes as a skeleton `Block`."""

    def __init__(self, stage: StageSpec, max_in: int, bn_eps: float, bn_momentum: float):
        super().__init__()
        max_out, max_ratio = max(stage.widths), max(stage.expand_ratios)
        max_mid = make_divisible(round(max_in * max_ratio), 8)
        kw = dict(bn_eps=bn_eps, bn_momentum=bn_momentum)
        self.expand = (SharedConvBN(max_in, max_mid, 1, act=stage.act_func, **kw)
                       if max_ratio != 1 else None)
        self.depthwise = SharedConvBN(max_mid, max_mid, max(stage.kernels), depthwise=True,
                                      act=stage.act_func, **kw)
        self.se = SharedSqueezeExcite(max_mid) if stage.se else None
        self.project = SharedConvBN(max_mid, max_out, 1, **kw)
        self.shortcut = SharedConv2d(max_in, max_out)

    def forward(self, x: torch.Tensor, b: Block, drop_rate: float = 0.0) -> torch.Tensor:
        y = self.expand(x, b.mid_channels) if b.expand_ratio != 1 else x
        y = self.depthwise(y, kernel=b.kernel, stride=b.stride)
        if b.se:
            y = self.se(y, b.se_channels)
        y = self.project(y, b.out_channels)
        s = shortcut_pool(x, b.stride)
        if b.shortcut_conv:
            s = self.shortcut(s, b.out_channels)
        return drop_connect(y, drop_rate, self.training) + s


class SharedHead(nn.Module):
    def __init__(self, max_in: int, max_features: int, act: str, bn_eps: float,
                 bn_momentum: float):
        super().__init__()
        self.expand = SharedConvBN(max_in, 6 * max_in, 1, act=act, bn_eps=bn_eps,
                                   bn_momentum=bn_momentum)
        self.mix = SharedConv2d(6 * max_in, max_features)
        self.act = activation(act)

    def forward(self, x: torch.Tensor, hidden: int, features: int) -> torch.Tensor:
        x = self.expand(x, hidden).mean((2, 3), keepdim=True)
        return self.act(self.mix(x, features)).flatten(1)


class Supernet(nn.Module):
    """Weight-sharing supernet of a `SupernetSpec` (AttentiveNAS structure)."""

    def __init__(self, spec: SupernetSpec, dropout: float = 0.0, drop_connect: float = 0.0,
                 bn_eps: float = 1e-5, bn_momentum: float = 0.1):
        super().__init__()
        self.spec = spec
        self.space = BackboneSpace(spec)
        self.dropout_rate, self.drop_connect_rate = dropout, drop_connect
        self.bn_eps, self.bn_momentum = bn_eps, bn_momentum
        kw = dict(bn_eps=bn_eps, bn_momentum=bn_momentum)
        first = spec.first_conv
        self.stem = SharedConvBN(3, max(first.widths), 3, act=first.act_func, **kw)
        blocks, max_in = [], max(first.widths)
        for stage in spec.mb_stages:
            for _ in range(max(stage.depths)):
                blocks.append(SharedMBBlock(stage, max_in, **kw))
                max_in = max(stage.widths)
        self.blocks = nn.ModuleList(blocks)
        self.head = SharedHead(max_in, max(spec.last_conv.widths), spec.last_conv.act_func, **kw)
        self.classifier = SharedLinear(max(spec.last_conv.widths), spec.n_classes)
        self.active: Skeleton = self.activate(self.space.largest())

    def activate(self, backbone: Backbone) -> Skeleton:
        """Select the sub-network that `forward` runs (validated against the space)."""
        self.active = self.space.skeleton(backbone)
        return self.active

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sk = self.active
        x = self.stem(resize_input(x, sk.backbone.resolution), sk.stem_channels,
                      stride=self.spec.first_conv.stride)
        n = sk.n_blocks
        for b in sk.blocks:
            x = self.blocks[b.supernet_index](x, b, self.drop_connect_rate * b.index / n)
        x = self.head(x, sk.head_channels, sk.feature_channels)
        return self.classifier(F.dropout(x, self.dropout_rate, self.training))

    def extract(self, backbone: Backbone | None = None) -> SubNetwork:
        """A static copy of a sub-network (default: the active one) with inherited weights."""
        sk = self.space.skeleton(backbone) if backbone is not None else self.active
        net = SubNetwork(sk, self.spec.first_conv.act_func, self.spec.last_conv.act_func,
                         dropout=self.dropout_rate, bn_eps=self.bn_eps,
                         bn_momentum=self.bn_momentum)
        source = self.state_dict()
        block_map = {str(b.index): str(b.supernet_index) for b in sk.blocks}
        target = {}
        for name, tensor in net.state_dict().items():
            parts = name.split(".")
            if parts[0] == "blocks":
                parts[1] = block_map[parts[1]]
            target[name] = inherit(source[".".join(parts)], tensor.shape)
        net.load_state_dict(target)
        return net.to(next(self.parameters()).device)


def inherit(tensor: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Leading slice of every dimension, centre crop of the two kernel dimensions."""
    if tensor.dim() == 0:
        return tensor.clone()
    out = tensor[tuple(slice(0, n) for n in shape[:2])]
    if tensor.dim() == 4:
        out = centre_crop(out, shape[-1])
    return out.clone()
