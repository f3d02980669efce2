"""Explicit operations: one layer or block measured on its own, as its kernels' costs.

A profile can hold a single convolution, an MBConv block or a linear layer measured outside any
DyNN (for example a per-layer look-up table). `Operation.layer_costs` turns one into the same
`LayerCost` rows the DyNN segments are made of, so one model and one fit serve both:
- `conv`: a KxK (or 1x1) convolution with BN folded and its activation;
- `mbconv`: a 1x1 expand to `mid_channels` (none when 0, i.e. expand ratio 1), a KxK depthwise
  convolution with the stride, squeeze-excite when `se` (global pool, 1x1 reduce to
  `se_channels`, 1x1 expand, scale), a 1x1 projection; a residual add when in == out and
  stride 1 (no 1x1 shortcut convolution, as in OFA);
- `linear`: a fully connected layer with bias.
`act` says how the activation runs: `relu` (fused into the convolution before it, no kernel of
its own), `hswish` (an elementwise kernel of its own after each activated convolution: the
expand and depthwise convolutions of a block, the convolution of a `conv`) or `none`.
`add_fused` says the residual add runs inside the projection (it then reads the shortcut, with
no kernel of its own), as TensorRT fuses an elementwise add into the convolution before it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from hadas.errors import ConfigError
from hadas.hardware.layer_costs import LayerCost, bytes_per_value, weighted_layer_cost
from hadas.space.skeleton import Layer, conv_out_size

OPERATION_TYPES = ("conv", "mbconv", "linear")
ACTIVATIONS = ("relu", "hswish", "none")
MAX_CHANNELS = 1 << 16
MAX_SIZE = 1 << 13


@dataclass(frozen=True)
class Operation:
    """One measured layer or block (square input maps of `in_size`)."""

    type: str
    in_channels: int
    out_channels: int
    in_size: int = 1
    kernel: int = 1
    stride: int = 1
    mid_channels: int = 0
    se: bool = False
    se_channels: int = 0
    act: str = "relu"
    add_fused: bool = False

    @property
    def out_size(self) -> int:
        return conv_out_size(self.in_size, self.stride)

    @property
    def residual(self) -> bool:
        return self.type == "mbconv" and self.in_channels == self.out_channels and self.stride == 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "operation") -> "Operation":
        """Validate a mapping; ConfigError names the faulty field."""
        if not isinstance(data, dict):
            raise ConfigError(where, f"must be a mapping, got {type(data).__name__}")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"{where}.{sorted(unknown)[0]}", "unknown key",
                              list(cls.__dataclass_fields__))
        kind = data.get("type")
        if kind not in OPERATION_TYPES:
            raise ConfigError(f"{where}.type", f"got {kind!r}", OPERATION_TYPES)
        values: dict[str, Any] = {"type": kind}
        limits = {"in_channels": (1, MAX_CHANNELS), "out_channels": (1, MAX_CHANNELS),
                  "in_size": (1, MAX_SIZE), "kernel": (1, 15), "stride": (1, 4),
                  "mid_channels": (0, MAX_CHANNELS), "se_channels": (0, MAX_CHANNELS)}
        for name, (lo, hi) in limits.items():
            if name not in data:
                continue
            value = data[name]
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ConfigError(f"{where}.{name}", f"must be an integer in [{lo}, {hi}], "
                                  f"got {value!r}")
            values[name] = value
        for name in ("se", "add_fused"):
            if name in data:
                if not isinstance(data[name], bool):
                    raise ConfigError(f"{where}.{name}", f"must be true or false, got "
                                      f"{data[name]!r}")
                values[name] = data[name]
        if "act" in data:
            if data["act"] not in ACTIVATIONS:
                raise ConfigError(f"{where}.act", f"got {data['act']!r}", ACTIVATIONS)
            values["act"] = data["act"]
        op = cls(**values)
        if op.se and op.type != "mbconv":
            raise ConfigError(f"{where}.se", "only an mbconv block has squeeze-excite")
        if op.se and op.se_channels < 1:
            raise ConfigError(f"{where}.se_channels", "must be >= 1 with se")
        return op

    def layer_costs(self, precision: str = "fp32") -> tuple[LayerCost, ...]:
        """The operation's kernels, in execution order."""
        b = bytes_per_value(precision)
        size, out = self.in_size, self.out_size
        if self.type == "linear":
            return (weighted_layer_cost(Layer("linear", "linear", self.in_channels,
                                              self.out_channels, 1, 1, 1, 1, 1, True, False), b),)
        if self.type == "conv":
            kind = "conv" if self.kernel > 1 else "pwconv"
            conv = Layer("conv", kind, self.in_channels, self.out_channels, self.kernel,
                         self.stride, 1, size, out, False, True)
            return (weighted_layer_cost(conv, b), *self._activation("conv", conv, b))
        mid = self.mid_channels or self.in_channels
        costs: list[LayerCost] = []
        if self.mid_channels:
            expand = Layer("expand", "pwconv", self.in_channels, mid, 1, 1, 1, size, size,
                           False, True)
            costs += [weighted_layer_cost(expand, b), *self._activation("expand", expand, b)]
        depthwise = Layer("depthwise", "dwconv", mid, mid, self.kernel, self.stride, mid, size,
                          out, False, True)
        costs += [weighted_layer_cost(depthwise, b), *self._activation("depthwise", depthwise, b)]
        if self.se:
            mid_map = mid * out * out
            costs += [LayerCost("se.pool", "pool", 0, 0, mid_map * b, mid * b, 0),
                      weighted_layer_cost(Layer("se.reduce", "pwconv", mid, self.se_channels,
                                                1, 1, 1, 1, 1, True, False), b),
                      weighted_layer_cost(Layer("se.expand", "pwconv", self.se_channels, mid,
                                                1, 1, 1, 1, 1, True, False), b),
                      LayerCost("se.scale", "elementwise", 0, 0, (mid_map + mid) * b,
                                mid_map * b, 0)]
        costs.append(weighted_layer_cost(Layer("project", "pwconv", mid, self.out_channels, 1, 1,
                                               1, out, out, False, True), b))
        if self.residual:
            out_map = self.out_channels * out * out
            costs.append(LayerCost("add", "elementwise", 0, 0, out_map * b, 0, 0, kernels=0)
                         if self.add_fused else
                         LayerCost("add", "elementwise", 0, 0, 2 * out_map * b, out_map * b, 0))
        return tuple(costs)

    def _activation(self, name: str, layer: Layer, b: int) -> tuple[LayerCost, ...]:
        if self.act != "hswish":
            return ()
        values = layer.out_channels * layer.out_size ** 2
        return (LayerCost(f"{name}.hswish", "elementwise", 0, 0, values * b, values * b, 0),)
