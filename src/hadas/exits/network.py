"""`MultiExitNetwork`: a static backbone with exit heads, and real early-exit inference."""
from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
from torch import nn

from hadas.exits.heads import ExitHead, exit_scores
from hadas.space.policies import fires
from hadas.model import SubNetwork
from hadas.space.exits import ExitPlan


@dataclass
class ExitOutputs:
    """Per candidate exit (in position order) and the final classifier (last)."""

    logits: list[torch.Tensor]
    confidence: list[torch.Tensor | None]


class MultiExitNetwork(nn.Module):
    """A backbone (`SubNetwork`) plus exit heads keyed by block position."""

    def __init__(self, backbone: SubNetwork, heads: nn.ModuleDict):
        super().__init__()
        self.backbone = backbone
        self.heads = heads
        self.positions = tuple(sorted(int(p) for p in heads))

    def head(self, position: int) -> ExitHead:
        """The exit head after block `position`."""
        return cast(ExitHead, self.heads[str(position)])

    def backbone_features(self, x: torch.Tensor) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
        """Block outputs at every head position, and the final classifier's logits."""
        feats = {}
        x = self.backbone.stem_forward(x)
        for i, block in enumerate(self.backbone.blocks):
            x = block(x)
            if str(i) in self.heads:
                feats[i] = x
        return feats, self.backbone.classify(x)

    def heads_forward(self, feats: dict[int, torch.Tensor]) -> ExitOutputs:
        logits, conf = [], []
        for p in self.positions:
            lg, c = self.head(p).forward_with_confidence(feats[p])
            logits.append(lg)
            conf.append(c)
        return ExitOutputs(logits, conf)

    def forward(self, x: torch.Tensor) -> ExitOutputs:
        """Every candidate exit and the final classifier on the whole batch."""
        feats, final = self.backbone_features(x)
        out = self.heads_forward(feats)
        out.logits.append(final)
        out.confidence.append(None)
        return out

    @torch.no_grad()
    def early_exit(self, x: torch.Tensor, plan: ExitPlan) -> tuple[torch.Tensor, torch.Tensor]:
        """Real early-exit inference: samples whose policy fires stop at that exit, only the
        others continue. Returns predictions and exit indices (0..k-1 early, k = final)."""
        if plan.policy == "oracle":
            raise ValueError("the oracle policy needs labels: simulate it, it cannot run")
        n = x.shape[0]
        pred = torch.empty(n, dtype=torch.long, device=x.device)
        exit_index = torch.empty(n, dtype=torch.long, device=x.device)
        alive = torch.arange(n, device=x.device)
        stops = dict(zip(plan.positions, range(len(plan.positions))))
        h = self.backbone.stem_forward(x)
        for i, block in enumerate(self.backbone.blocks):
            h = block(h)
            k = stops.get(i)
            if k is None:
                continue
            logits, conf = self.head(i).forward_with_confidence(h)
            p, max_p, entropy = exit_scores(logits)
            leave = fires(plan.policy, plan.thresholds[k], max_p, entropy, conf)
            pred[alive[leave]] = p[leave]
            exit_index[alive[leave]] = k
            alive, h = alive[~leave], h[~leave]
            if len(alive) == 0:
                return pred, exit_index
        pred[alive] = exit_scores(self.backbone.classify(h))[0]
        exit_index[alive] = len(plan.positions)
        return pred, exit_index
