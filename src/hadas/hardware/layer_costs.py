"""Layer cost model: per segment of a DyNN, every operation's MACs, bytes moved and kernels.

Weighted layers come from the skeleton (`hadas.space.exits.segments`). BatchNorm is folded and
the activation fused into the layer before it (one kernel each, as a deployed network runs);
the operations without weights are added as memory-only kinds:
- `pool`: a global average pool wherever a layer with a 1x1 input follows a spatial map
  (squeeze-excite, the final head, every exit head);
- `elementwise`: the squeeze-excite scale, the residual add of every block, and the average
  pool of a strided block's shortcut.
Bytes moved = weights (parameters) + input + output activations, at 4 (fp32) or 2 (fp16)
bytes per value, with no cache reuse across kernels.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from hadas.errors import ConfigError
from hadas.space.exits import ExitPlan, segments
from hadas.space.skeleton import Block, Layer, Skeleton

BYTES_PER_VALUE = {"fp32": 4, "fp16": 2}
MEMORY_KINDS = ("pool", "elementwise")


@dataclass(frozen=True)
class LayerCost:
    """One kernel's work: MACs (0 for memory-only kinds), values read/written, parameters."""

    name: str
    kind: str            # conv | dwconv | pwconv | linear | pool | elementwise
    macs: int
    weight_bytes: int
    in_bytes: int
    out_bytes: int
    params: int
    kernels: int = 1

    @property
    def bytes_moved(self) -> int:
        return self.weight_bytes + self.in_bytes + self.out_bytes


@dataclass(frozen=True)
class SegmentLayerCosts:
    """The operations of one segment (`backbone` or `exit`, as in `hadas.space.exits.segments`)."""

    kind: str
    index: int
    layers: tuple[LayerCost, ...]

    @property
    def macs(self) -> int:
        return sum(c.macs for c in self.layers)

    @property
    def bytes_moved(self) -> int:
        return sum(c.bytes_moved for c in self.layers)

    @property
    def params(self) -> int:
        return sum(c.params for c in self.layers)

    @property
    def kernels(self) -> int:
        return sum(c.kernels for c in self.layers)


def bytes_per_value(precision: str) -> int:
    if precision not in BYTES_PER_VALUE:
        raise ConfigError("precision", f"got {precision!r}", BYTES_PER_VALUE)
    return BYTES_PER_VALUE[precision]


def weighted_layer_cost(layer: Layer, value_bytes: int) -> LayerCost:
    """A conv/linear layer: weights + input + output activations."""
    return LayerCost(layer.name, layer.kind, layer.macs, layer.params * value_bytes,
                     layer.in_channels * layer.in_size ** 2 * value_bytes,
                     layer.out_channels * layer.out_size ** 2 * value_bytes, layer.params)


def _memory_op(name: str, kind: str, read_values: int, write_values: int, b: int) -> LayerCost:
    return LayerCost(name, kind, 0, 0, read_values * b, write_values * b, 0)


def block_memory_ops(block: Block, value_bytes: int) -> list[LayerCost]:
    """The weight-free operations of an MBConv block besides its SE pool."""
    p, b = f"blocks.{block.index}.", value_bytes
    out_map = block.out_channels * block.out_size ** 2
    ops = []
    if block.se:
        mid_map = block.mid_channels * block.out_size ** 2
        ops.append(_memory_op(p + "se.scale", "elementwise", mid_map + block.mid_channels,
                              mid_map, b))
    if block.stride > 1:
        ops.append(_memory_op(p + "shortcut.pool", "elementwise",
                              block.in_channels * block.in_size ** 2,
                              block.in_channels * block.out_size ** 2, b))
    ops.append(_memory_op(p + "add", "elementwise", 2 * out_map, out_map, b))
    return ops


def _with_pools(layers: tuple[Layer, ...], value_bytes: int) -> list[LayerCost]:
    """Weighted layers in order, with a global pool before each 1x1 input that follows a map."""
    out: list[LayerCost] = []
    previous: Layer | None = None
    for layer in layers:
        if previous is not None and layer.in_size == 1 and previous.out_size > 1:
            channels = previous.out_channels
            out.append(_memory_op(layer.name + ".pool", "pool",
                                  channels * previous.out_size ** 2, channels, value_bytes))
        out.append(weighted_layer_cost(layer, value_bytes))
        previous = layer
    return out


@lru_cache(maxsize=256)
def segment_layer_costs(skeleton: Skeleton, plan: ExitPlan, exit_channels: int,
                        precision: str = "fp32") -> tuple[SegmentLayerCosts, ...]:
    """Every segment's operations, in `segments()` order."""
    b = bytes_per_value(precision)
    out = []
    for seg in segments(skeleton, plan, exit_channels):
        costs = _with_pools(seg.layers, b)
        for index in seg.blocks:
            costs += block_memory_ops(skeleton.blocks[index], b)
        out.append(SegmentLayerCosts(seg.kind, seg.index, tuple(costs)))
    return tuple(out)
