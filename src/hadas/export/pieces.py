"""The static pieces of a DyNN: backbone segments between its exits, and its exit heads.

Segment 0 is the stem (with the input resize) and the blocks up to the first exit; segment j
the blocks after exit j-1 up to exit j; the last segment the remaining blocks, the head and the
classifier. These are the units that get traced (TorchScript) and exported (ONNX) one by one.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hadas.exits import ExitHead, MultiExitNetwork
from hadas.model import SubNetwork
from hadas.space import ExitPlan, backbone_cuts


class SegmentModule(nn.Module):
    """Consecutive blocks of a `SubNetwork`, with its stem first and/or classifier last."""

    def __init__(self, backbone: SubNetwork, start: int, stop: int, stem: bool, classify: bool):
        super().__init__()
        self.backbone = backbone  # shared, not copied: the pieces use the run's very weights
        self.start, self.stop, self.stem, self.classify = start, stop, stem, classify

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stem:
            x = self.backbone.stem_forward(x)
        for block in self.backbone.blocks[self.start:self.stop]:
            x = block(x)
        return self.backbone.classify(x) if self.classify else x

    def describe(self) -> str:
        parts = ["stem"] if self.stem else []
        if self.stop > self.start:
            parts.append(f"blocks {self.start}..{self.stop - 1}")
        if self.classify:
            parts.append("head + classifier")
        return ", ".join(parts)


class HeadOutputs(nn.Module):
    """An exit head returning its logits, and its learned confidence when it has one."""

    def __init__(self, head: ExitHead, position: int):
        super().__init__()
        self.head, self.position = head, position

    @property
    def has_confidence(self) -> bool:
        return self.head.confidence is not None

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        logits, conf = self.head.forward_with_confidence(x)
        return logits if conf is None else (logits, conf)

    def describe(self) -> str:
        return f"exit head after block {self.position}" + (
            " (logits, confidence)" if self.has_confidence else "")


@dataclass(frozen=True)
class Pieces:
    segments: list[SegmentModule]    # len(plan.positions) + 1, the last one ends with the classifier
    heads: list[HeadOutputs]   # one per early exit, in position order


def split_network(net: MultiExitNetwork, plan: ExitPlan) -> Pieces:
    """Cut a multi-exit network into the segments and heads of `plan` (in eval mode)."""
    missing = [p for p in plan.positions if p not in net.positions]
    if missing:
        raise ValueError(f"exit positions {missing} have no trained head "
                         f"(candidates: {list(net.positions)})")
    cuts = backbone_cuts(len(net.backbone.blocks), plan)
    segments = [SegmentModule(net.backbone, blocks.start, blocks.stop, stem=i == 0,
                              classify=i == len(cuts) - 1) for i, blocks in enumerate(cuts)]
    heads = [HeadOutputs(net.head(p), p) for p in plan.positions]
    for m in (*segments, *heads):
        m.eval()
    return Pieces(segments, heads)
