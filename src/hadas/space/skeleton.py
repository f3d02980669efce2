"""The skeleton of a sub-network, in pure Python: every block's shape and every layer's cost.

`model` builds modules from this and `hardware` costs layers from it; a test checks that the
real modules agree. FLOPs follow the published AttentiveNAS convention: multiply-accumulates of
convolutions and linear layers only, batch 1, at the sub-network's resolution.
"""
from __future__ import annotations

from dataclasses import dataclass

from hadas.space.backbone import Backbone
from hadas.space.supernet_spec import SupernetSpec


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """MobileNet rounding: nearest multiple of `divisor`, never below it, never more than 10% down."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def conv_out_size(size: int, stride: int) -> int:
    """Spatial size after a 'same'-padded convolution with this stride."""
    return (size - 1) // stride + 1


@dataclass(frozen=True)
class Layer:
    """One weighted layer (conv or linear) with its shape and cost."""

    name: str            # e.g. "blocks.3.expand", "head.mix", "classifier"
    kind: str            # conv | dwconv | pwconv | linear
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    groups: int
    in_size: int         # spatial size of the input (1 for linear / after pooling)
    out_size: int
    bias: bool
    batchnorm: bool

    @property
    def macs(self) -> int:
        return self.in_channels // self.groups * self.kernel * self.kernel * self.out_channels \
            * self.out_size * self.out_size

    @property
    def params(self) -> int:
        weights = self.in_channels // self.groups * self.kernel * self.kernel * self.out_channels
        return weights + (self.out_channels if self.bias else 0) \
            + (2 * self.out_channels if self.batchnorm else 0)


@dataclass(frozen=True)
class Block:
    """One MBConv block of a sub-network."""

    index: int           # position in the sub-network (0 .. n_blocks-1)
    supernet_index: int  # position in the supernet's flat block list
    stage: str
    in_channels: int
    mid_channels: int
    out_channels: int
    kernel: int
    stride: int
    expand_ratio: int
    se: bool
    se_channels: int
    act_func: str
    in_size: int
    out_size: int

    @property
    def identity_shortcut(self) -> bool:
        return self.in_channels == self.out_channels and self.stride == 1

    @property
    def shortcut_conv(self) -> bool:
        return self.in_channels != self.out_channels


@dataclass(frozen=True)
class Skeleton:
    """Everything about a sub-network's shape that does not need torch."""

    backbone: Backbone
    n_classes: int
    stem_channels: int
    stem_size: int
    blocks: tuple[Block, ...]
    head_channels: int   # 6 x width(mb7), the final expand layer
    feature_channels: int  # width(last_conv), the feature mix layer
    layers: tuple[Layer, ...]

    @property
    def n_blocks(self) -> int:
        return len(self.blocks)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def mflops(self) -> float:
        """Published convention: multiply-accumulates / 1e6."""
        return self.macs / 1e6

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def mparams(self) -> float:
        return self.params / 1e6

    def block_layers(self, index: int) -> tuple[Layer, ...]:
        prefix = f"blocks.{index}."
        return tuple(layer for layer in self.layers if layer.name.startswith(prefix))


def build_skeleton(spec: SupernetSpec, backbone: Backbone) -> Skeleton:
    """Compute the skeleton of `backbone` in the supernet `spec` (the backbone must be valid)."""
    size = stem_size = conv_out_size(backbone.resolution, spec.first_conv.stride)
    stem = backbone.width[0]
    layers = [Layer("stem", "conv", 3, stem, 3, spec.first_conv.stride, 1, backbone.resolution,
                    size, False, True)]
    blocks: list[Block] = []
    in_ch = stem
    supernet_offset = 0
    for s, stage in enumerate(spec.mb_stages):
        out_ch = backbone.width[s + 1]
        for j in range(backbone.depth[s]):
            stride = stage.stride if j == 0 else 1
            ratio = backbone.expand_ratio[s]
            mid = make_divisible(round(in_ch * ratio), 8)
            se_ch = make_divisible(mid // 4, 8) if stage.se else 0
            out_size = conv_out_size(size, stride)
            block = Block(len(blocks), supernet_offset + j, stage.name, in_ch, mid, out_ch,
                          backbone.kernel_size[s], stride, ratio, stage.se, se_ch, stage.act_func,
                          size, out_size)
            layers.extend(_block_layers(block))
            blocks.append(block)
            in_ch, size = out_ch, out_size
        supernet_offset += max(stage.depths)
    head = 6 * in_ch
    feat = backbone.width[8]
    layers += [Layer("head.expand", "pwconv", in_ch, head, 1, 1, 1, size, size, False, True),
               Layer("head.mix", "pwconv", head, feat, 1, 1, 1, 1, 1, False, False),
               Layer("classifier", "linear", feat, spec.n_classes, 1, 1, 1, 1, 1, True, False)]
    return Skeleton(backbone, spec.n_classes, stem, stem_size,
                    tuple(blocks), head, feat, tuple(layers))


def _block_layers(b: Block) -> list[Layer]:
    p = f"blocks.{b.index}."
    out = []
    if b.expand_ratio != 1:
        out.append(Layer(p + "expand", "pwconv", b.in_channels, b.mid_channels, 1, 1, 1,
                         b.in_size, b.in_size, False, True))
    out.append(Layer(p + "depthwise", "dwconv", b.mid_channels, b.mid_channels, b.kernel, b.stride,
                     b.mid_channels, b.in_size, b.out_size, False, True))
    if b.se:
        out += [Layer(p + "se.reduce", "pwconv", b.mid_channels, b.se_channels, 1, 1, 1, 1, 1,
                      True, False),
                Layer(p + "se.expand", "pwconv", b.se_channels, b.mid_channels, 1, 1, 1, 1, 1,
                      True, False)]
    out.append(Layer(p + "project", "pwconv", b.mid_channels, b.out_channels, 1, 1, 1,
                     b.out_size, b.out_size, False, True))
    if b.shortcut_conv:
        out.append(Layer(p + "shortcut", "pwconv", b.in_channels, b.out_channels, 1, 1, 1,
                         b.out_size, b.out_size, False, False))
    return out
