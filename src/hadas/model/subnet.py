"""`SubNetwork`: a static sub-network with plain torch layers, built from a skeleton.

Its parameter names are those of the supernet with blocks renumbered 0..n_blocks-1, so weights
are inherited by slicing (see `Supernet.extract`). Plain layers keep it easy to export.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hadas.model.ops import HardSigmoid, activation, drop_connect, resize_input, shortcut_pool
from hadas.space.skeleton import Block, Skeleton


class ConvBN(nn.Module):
    """conv -> BN -> (activation)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1,
                 act: str | None = None, bn_eps: float = 1e-5, bn_momentum: float = 0.1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=bn_eps, momentum=bn_momentum)
        self.act = activation(act) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class SqueezeExcite(nn.Module):
    """Global pool -> 1x1 reduce (bias) -> ReLU -> 1x1 expand (bias) -> hard-sigmoid gate."""

    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.expand = nn.Conv2d(reduced, channels, 1)
        self.gate = HardSigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.expand(torch.relu(self.reduce(s))))


class MBBlock(nn.Module):
    """Static MBConv block: main branch + shortcut (every block is residual)."""

    def __init__(self, b: Block, bn_eps: float = 1e-5, bn_momentum: float = 0.1):
        super().__init__()
        kw: dict[str, Any] = dict(bn_eps=bn_eps, bn_momentum=bn_momentum)
        self.stride = b.stride
        self.expand = (ConvBN(b.in_channels, b.mid_channels, 1, act=b.act_func, **kw)
                       if b.expand_ratio != 1 else None)
        self.depthwise = ConvBN(b.mid_channels, b.mid_channels, b.kernel, b.stride,
                                groups=b.mid_channels, act=b.act_func, **kw)
        self.se = SqueezeExcite(b.mid_channels, b.se_channels) if b.se else None
        self.project = ConvBN(b.mid_channels, b.out_channels, 1, **kw)
        self.shortcut = (nn.Conv2d(b.in_channels, b.out_channels, 1, bias=False)
                         if b.shortcut_conv else None)
        self.drop_connect_rate = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x) if self.expand is not None else x
        y = self.depthwise(y)
        if self.se is not None:
            y = self.se(y)
        y = self.project(y)
        s = shortcut_pool(x, self.stride)
        if self.shortcut is not None:
            s = self.shortcut(s)
        return drop_connect(y, self.drop_connect_rate, self.training) + s


class Head(nn.Module):
    """MobileNetV3 head: 1x1 expand + BN + act -> global pool -> 1x1 mix (no BN) + act."""

    def __init__(self, cin: int, hidden: int, features: int, act: str,
                 bn_eps: float = 1e-5, bn_momentum: float = 0.1):
        super().__init__()
        self.expand = ConvBN(cin, hidden, 1, act=act, bn_eps=bn_eps, bn_momentum=bn_momentum)
        self.mix = nn.Conv2d(hidden, features, 1, bias=False)
        self.act = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.expand(x).mean((2, 3), keepdim=True)
        return self.act(self.mix(x)).flatten(1)


class SubNetwork(nn.Module):
    """A static backbone: stem -> MBConv blocks -> head -> classifier."""

    def __init__(self, skeleton: Skeleton, stem_act: str = "swish", head_act: str = "swish",
                 dropout: float = 0.0, bn_eps: float = 1e-5, bn_momentum: float = 0.1):
        super().__init__()
        self.skeleton = skeleton
        self.resolution = skeleton.backbone.resolution
        kw: dict[str, Any] = dict(bn_eps=bn_eps, bn_momentum=bn_momentum)
        stem_layer = skeleton.layers[0]
        self.stem = ConvBN(3, skeleton.stem_channels, 3, stem_layer.stride, act=stem_act, **kw)
        self.blocks = nn.ModuleList(MBBlock(b, **kw) for b in skeleton.blocks)
        last = skeleton.blocks[-1].out_channels
        self.head = Head(last, skeleton.head_channels, skeleton.feature_channels, head_act, **kw)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(skeleton.feature_channels, skeleton.n_classes)

    def stem_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stem(resize_input(x, self.resolution))

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """Head + classifier on the output of the last block."""
        return self.classifier(self.dropout(self.head(features)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem_forward(x)
        for block in self.blocks:
            x = block(x)
        return self.classify(x)
