"""Early exits in pure Python: candidate positions, the `ExitPlan`, exit-head layers, segments.

An exit after MBConv block i (0-based over the whole sub-network) is, as in HADAS: a 3x3 conv
without padding to `exit_channels`, BN, LeakyReLU, global average pooling and a linear
classifier. Where the feature map is smaller than 3x3 (tiny supernets) the kernel shrinks to
the map size, so the head still sees the whole map. The final classifier is always the last exit.

A DyNN is cut into *segments*: the backbone up to the first exit, that exit's head, the
backbone up to the next exit, ..., and the rest of the backbone with the final head. A sample
leaving at exit i pays every backbone segment up to i plus every exit head it passed.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from hadas.digest import json_digest
from hadas.errors import ConfigError
from hadas.space.policies import POLICIES
from hadas.space.skeleton import Layer, Skeleton

FIRST_EXIT_BLOCK = 5  # HADAS: exits after blocks 5 .. N_b-1


def candidate_positions(n_blocks: int, first_exit_block: int = FIRST_EXIT_BLOCK) -> tuple[int, ...]:
    """Blocks after which an exit may sit: first_exit_block .. n_blocks-1 (HADAS rule)."""
    return tuple(range(min(first_exit_block, n_blocks), n_blocks))


@dataclass(frozen=True)
class ExitPlan:
    """Where the early exits sit and when a sample leaves.

    `positions`: sorted unique block indices (the final classifier is implicit and always last).
    `threshold`: one value for every early exit, or one per early exit.
    """

    positions: tuple[int, ...]
    policy: str = "max_softmax"
    threshold: float | tuple[float, ...] = 0.8

    def __post_init__(self) -> None:
        positions = tuple(sorted(set(int(p) for p in self.positions)))
        if len(positions) != len(self.positions):
            raise ConfigError("exits.positions", f"must be unique, got {list(self.positions)}")
        object.__setattr__(self, "positions", positions)
        POLICIES.get(self.policy)  # ConfigError naming the registered policies
        if isinstance(self.threshold, Sequence):
            thresholds = tuple(float(t) for t in self.threshold)
            if len(thresholds) != len(positions):
                raise ConfigError("exits.threshold", f"needs one value per exit "
                                  f"({len(positions)}), got {len(thresholds)}")
            object.__setattr__(self, "threshold", thresholds)
        else:
            object.__setattr__(self, "threshold", float(self.threshold))
        if not all(math.isfinite(t) for t in self.thresholds):
            raise ConfigError("exits.threshold", f"must be finite numbers, got {self.threshold}")

    @property
    def thresholds(self) -> tuple[float, ...]:
        """One threshold per early exit."""
        t = self.threshold
        return t if isinstance(t, tuple) else (t,) * len(self.positions)

    def validate(self, n_blocks: int, first_exit_block: int = FIRST_EXIT_BLOCK) -> "ExitPlan":
        allowed = candidate_positions(n_blocks, first_exit_block)
        for p in self.positions:
            if p not in allowed:
                raise ConfigError("exits.positions", f"{p} is not a candidate position of a "
                                  f"{n_blocks}-block backbone",
                                  f"{allowed[0]}..{allowed[-1]}" if allowed else "none")
        return self

    def to_dict(self) -> dict:
        t = self.threshold
        return {"positions": list(self.positions), "policy": self.policy,
                "threshold": list(t) if isinstance(t, tuple) else t}

    @classmethod
    def from_dict(cls, data: dict) -> "ExitPlan":
        return cls(tuple(data["positions"]), data.get("policy", "max_softmax"),
                   data.get("threshold", 0.8) if not isinstance(data.get("threshold"), list)
                   else tuple(data["threshold"]))

    @property
    def key(self) -> str:
        return json_digest(self.to_dict())


def exit_head_layers(skeleton: Skeleton, position: int, exit_channels: int,
                     name: str | None = None) -> tuple[Layer, ...]:
    """The layers of the exit head after block `position` (conv, then classifier)."""
    block = skeleton.blocks[position]
    size = block.out_size
    kernel = min(3, size)
    out = size - kernel + 1
    prefix = name or f"exits.{position}"
    return (Layer(f"{prefix}.conv", "conv", block.out_channels, exit_channels, kernel, 1, 1,
                  size, out, False, True),
            Layer(f"{prefix}.classifier", "linear", exit_channels, skeleton.n_classes, 1, 1, 1,
                  1, 1, True, False))


@dataclass(frozen=True)
class Segment:
    """A piece of a DyNN: `backbone` (stem/blocks/final head) or `exit` (one exit head)."""

    kind: str                 # "backbone" | "exit"
    index: int                # exit number it leads to (0-based; the final classifier is last)
    layers: tuple[Layer, ...]
    blocks: tuple[int, ...] = ()  # block indices in a backbone segment

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)


def backbone_cuts(n_blocks: int, plan: ExitPlan) -> list[range]:
    """The blocks of each backbone segment: up to and including each exit's block, then the
    rest. The one place a DyNN is cut (layer lists, measured modules and export use it)."""
    bounds = [0, *(p + 1 for p in plan.positions), n_blocks]
    return [range(a, b) for a, b in zip(bounds, bounds[1:])]


def segments(skeleton: Skeleton, plan: ExitPlan, exit_channels: int) -> tuple[Segment, ...]:
    """Backbone and exit-head segments in execution order; the last backbone segment ends
    with the final head and classifier. Their MACs add up to backbone + all exit heads."""
    out: list[Segment] = []
    cuts = backbone_cuts(skeleton.n_blocks, plan)
    for i, blocks in enumerate(cuts):
        layers = [layer for b in blocks for layer in skeleton.block_layers(b)]
        if i == 0:
            layers = [skeleton.layers[0], *layers]  # the stem
        if i == len(cuts) - 1:
            layers += [layer for layer in skeleton.layers
                       if layer.name.startswith(("head.", "classifier"))]
        out.append(Segment("backbone", i, tuple(layers), tuple(blocks)))
        if i < len(plan.positions):
            out.append(Segment("exit", i, exit_head_layers(skeleton, blocks[-1], exit_channels)))
    return tuple(out)
