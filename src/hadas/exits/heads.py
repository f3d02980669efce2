"""Exit heads (HADAS design) and the scores exit policies look at."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hadas.space.skeleton import Skeleton


class ExitHead(nn.Module):
    """kxk conv without padding -> BN -> LeakyReLU(0.01) -> global average pool -> linear;
    optionally a learned-confidence branch (linear -> sigmoid)."""

    def __init__(self, in_channels: int, exit_channels: int, n_classes: int, kernel: int = 3,
                 confidence: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, exit_channels, kernel, bias=False)
        self.bn = nn.BatchNorm2d(exit_channels)
        self.classifier = nn.Linear(exit_channels, n_classes)
        self.confidence = nn.Linear(exit_channels, 1) if confidence else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.bn(self.conv(x)), 0.01).mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))

    def forward_with_confidence(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        f = self.features(x)
        conf = torch.sigmoid(self.confidence(f)).squeeze(1) if self.confidence is not None else None
        return self.classifier(f), conf


def build_heads(skeleton: Skeleton, positions: tuple[int, ...], exit_channels: int,
                confidence: bool = False) -> nn.ModuleDict:
    """One head per position, shaped like `hadas.space.exit_head_layers` says."""
    heads = {}
    for p in positions:
        block = skeleton.blocks[p]
        heads[str(p)] = ExitHead(block.out_channels, exit_channels, skeleton.n_classes,
                                 min(3, block.out_size), confidence)
    return nn.ModuleDict(heads)


def exit_scores(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Prediction, max-softmax and entropy (nats) of a batch of logits, in float32.

    The exit cache and real early-exit inference both call this, so they take the same
    decisions sample by sample."""
    logp = F.log_softmax(logits.float(), dim=1)
    p = logp.exp()
    max_p, pred = p.max(dim=1)
    entropy = -(p * logp).sum(dim=1)
    return pred, max_p, entropy
