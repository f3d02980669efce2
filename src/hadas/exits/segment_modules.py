"""A DyNN's segments (`hadas.space.segments`) as torch modules, for measuring them: backbone
segments cut from the static sub-network, exit heads as the exit bank builds them, each with
the early-exit decision the deployed program takes after it."""
from __future__ import annotations

import torch
from torch import nn

from hadas.config import HadasConfig
from hadas.exits.heads import ExitHead, exit_scores
from hadas.model import SubNetwork
from hadas.space import Backbone, BackboneSpace, ExitPlan, segments


class DecidingExit(nn.Module):
    """An exit head as the early-exit program (`hadas.export.program`) runs it: the head, its
    scores (prediction, max-softmax, entropy), the decision, the predictions of the samples
    that leave and the features of those that stay. At batch 1 on a CPU the decision costs
    about as much as a small head; measured without it, every DyNN came out 20-27 % faster
    than its program (README, "The measured loop")."""

    def __init__(self, head: ExitHead, threshold: float = 0.5):
        super().__init__()
        self.head, self.threshold = head, threshold

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pred, max_p, _ = exit_scores(self.head(h))
        leave = max_p >= self.threshold
        return pred[leave], h[torch.logical_not(leave)]


def segment_modules(cfg: HadasConfig, backbone: Backbone, plan: ExitPlan, exit_channels: int,
                    device: str = "cpu") -> list[tuple[str, int, nn.Module]]:
    """`(kind, index, module)` in `hadas.space.segments` order, with random weights.

    A backbone segment is its blocks, after the stem for the first one and before the head and
    classifier for the last one. Inputs are fed at the sub-network's resolution, so the stem's
    resize is a no-op and left out."""
    skeleton = BackboneSpace(cfg.supernet).skeleton(backbone)
    spec = cfg.supernet
    net = SubNetwork(skeleton, spec.first_conv.act_func, spec.last_conv.act_func,
                     bn_eps=cfg.model.bn_eps, bn_momentum=cfg.model.bn_momentum)
    parts = segments(skeleton, plan, exit_channels)
    n_backbone = sum(s.kind == "backbone" for s in parts)
    out: list[tuple[str, int, nn.Module]] = []
    for seg in parts:
        if seg.kind == "backbone":
            layers: list[nn.Module] = [net.stem] if seg.index == 0 else []
            layers += [net.blocks[b] for b in seg.blocks]
            if seg.index == n_backbone - 1:
                layers += [net.head, net.dropout, net.classifier]
            module: nn.Module = nn.Sequential(*layers)
        else:
            block = skeleton.blocks[plan.positions[seg.index]]
            module = DecidingExit(ExitHead(block.out_channels, exit_channels,
                                           skeleton.n_classes, min(3, block.out_size)))
        out.append((seg.kind, seg.index, module.to(device).eval()))
    return out
