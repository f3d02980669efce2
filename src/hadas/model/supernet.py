"""`Supernet`: the AttentiveNAS weight-sharing supernet, our own implementation.

`activate(backbone)` selects a sub-network in place (weight sharing, used for training);
`extract(backbone)` returns a static `SubNetwork` holding copies of the inherited weights.
Both give the same outputs in eval mode (tested).

Regularisation follows the AttentiveNAS training recipe: dropout before the classifier and
drop-connect only in a forward pass asked for with `regularize=True` (the trainer asks for it for
the largest sub-network of each sandwich step), and drop-connect only on the identity-shortcut
blocks of the last two stages (see `Supernet.drop_connect_rates`). Evaluation, BN re-estimation
and extracted sub-networks run without either.
"""
from __future__ import annotations

from typing import Any

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
        kw: dict[str, Any] = dict(bn_eps=bn_eps, bn_momentum=bn_momentum)
        self.expand = (SharedConvBN(max_in, max_mid, 1, act=stage.act_func, **kw)
                       if max_ratio != 1 else None)
        self.depthwise = SharedConvBN(max_mid, max_mid, max(stage.kernels), depthwise=True,
                                      act=stage.act_func, **kw)
        self.se = SharedSqueezeExcite(max_mid) if stage.se else None
        self.project = SharedConvBN(max_mid, max_out, 1, **kw)
        self.shortcut = SharedConv2d(max_in, max_out)

    def forward(self, x: torch.Tensor, b: Block, drop_rate: float = 0.0) -> torch.Tensor:
        """`drop_rate`: drop-connect of the residual branch (the supernet passes it only where
        the shortcut is the identity)."""
        y = x
        if b.expand_ratio != 1:
            assert self.expand is not None, "an expand ratio above 1 needs the stage's expand"
            y = self.expand(x, b.mid_channels)
        y = self.depthwise(y, kernel=b.kernel, stride=b.stride)
        if b.se:
            assert self.se is not None, "squeeze-excite needs a stage with squeeze-excite"
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
        kw: dict[str, Any] = dict(bn_eps=bn_eps, bn_momentum=bn_momentum)
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

    def drop_connect_rates(self, skeleton: Skeleton | None = None) -> dict[int, float]:
        """Drop-connect rate per supernet block index for a regularised pass of a sub-network
        (default: the active one); blocks left out get none. AttentiveNAS's rule: only blocks
        of the last two stages whose shortcut is the identity in *this* sub-network (active
        channels in == out, stride 1), at `drop_connect x supernet_index / len(blocks)`. A
        stage's first block is strided or changes channels in most sub-networks (then its
        shortcut is pooled or a 1x1 conv); the blocks after it always have the identity."""
        sk = skeleton if skeleton is not None else self.active
        if self.drop_connect_rate <= 0.0:
            return {}
        last_two = {stage.name for stage in self.spec.mb_stages[-2:]}
        n = len(self.blocks)
        return {b.supernet_index: self.drop_connect_rate * b.supernet_index / n
                for b in sk.blocks if b.stage in last_two and b.identity_shortcut}

    def forward(self, x: torch.Tensor, regularize: bool = False) -> torch.Tensor:
        """Logits of the active sub-network. `regularize` (in training mode only): dropout before
        the classifier and drop-connect, as for the largest sub-network of a sandwich step."""
        return self.forward_blocks(x, regularize)[1]

    def forward_blocks(self, x: torch.Tensor, regularize: bool = False
                       ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """`forward`, also returning every active block's output (sub-network order)."""
        sk = self.active
        on = regularize and self.training
        rates = self.drop_connect_rates(sk) if on else {}
        x = self.stem(resize_input(x, sk.backbone.resolution), sk.stem_channels,
                      stride=self.spec.first_conv.stride)
        outputs = []
        for b in sk.blocks:
            x = self.blocks[b.supernet_index](x, b, rates.get(b.supernet_index, 0.0))
            outputs.append(x)
        x = self.head(x, sk.head_channels, sk.feature_channels)
        if on and self.dropout_rate > 0.0:
            x = F.dropout(x, self.dropout_rate, training=True)
        return outputs, self.classifier(x)

    def extract(self, backbone: Backbone | None = None) -> SubNetwork:
        """A static copy of a sub-network (default: the active one) with inherited weights."""
        sk = self.space.skeleton(backbone) if backbone is not None else self.active
        # no dropout: an extracted sub-network is evaluated and BN re-estimated, never trained
        net = SubNetwork(sk, self.spec.first_conv.act_func, self.spec.last_conv.act_func,
                         bn_eps=self.bn_eps, bn_momentum=self.bn_momentum)
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
