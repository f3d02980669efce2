"""The TorchScript early-exit program: traced static pieces, scripted control flow.

(No `from __future__ import annotations` here: TorchScript reads the annotations.)

Segments and heads are traced (`torch.jit.trace`); the small `EarlyExitProgram` around them is
scripted, so the program runs without hadas and still takes per-sample exit decisions: samples
whose policy fires stop at that exit, only the others go on through the next segment.
"""
import warnings
from collections.abc import Sequence

import torch
from torch import nn

from hadas.errors import ConfigError
from hadas.exits import DEPLOYABLE, exit_scores
from hadas.space.policies import POLICIES
from hadas.export.pieces import Pieces
from hadas.space import ExitPlan


def check_exportable(plan: ExitPlan, pieces: Pieces) -> None:
    """Refuse what cannot run without labels or without a trained confidence branch."""
    if plan.policy not in DEPLOYABLE:
        raise ConfigError("exits.policy", f"{plan.policy!r} needs the labels (a bound for "
                          "comparisons, not a deployable policy): it cannot be exported",
                          DEPLOYABLE)
    if plan.policy == "confidence" and not all(h.has_confidence for h in pieces.heads):
        raise ConfigError("exits.policy", "'confidence' needs exit heads trained with a "
                          "confidence branch (exits.confidence_head: true)", DEPLOYABLE)


class Stage(nn.Module):
    """A traced segment followed by a traced head without confidence branch."""

    def __init__(self, segment: nn.Module, head: nn.Module):
        super().__init__()
        self.segment, self.head = segment, head

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        h = self.segment(h)
        return h, self.head(h), None


class ConfidenceStage(Stage):
    """A traced segment followed by a traced head that also returns its confidence."""

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        h = self.segment(h)
        logits, conf = self.head(h)
        return h, logits, conf


class EarlyExitProgram(nn.Module):
    """forward(images) -> (predictions, exit index): 0..k-1 at an early exit, k at the final."""

    policy: str
    score: str            # the policy's score (space/policies.py), resolved before scripting
    leaves_above: bool
    thresholds: list[float]
    shift: torch.Tensor   # buffers, registered in __init__
    scale: torch.Tensor

    def __init__(self, stages: Sequence[nn.Module], final: nn.Module, policy: str,
                 thresholds: Sequence[float], mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.final = final
        self.policy = policy
        rule = POLICIES.get(policy)
        self.score, self.leaves_above = rule.score, rule.leaves_above
        self.thresholds = [float(t) for t in thresholds]
        # exactly `hadas.data.TensorLoader`'s normalisation of raw 0..255 values
        self.register_buffer("shift", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1) * 255)
        self.register_buffer("scale", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1) * 255)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = x.shape[0]
        pred = torch.zeros(n, dtype=torch.long, device=x.device)
        exit_index = torch.zeros(n, dtype=torch.long, device=x.device)
        alive = torch.arange(n, device=x.device)
        h = x
        k = 0
        for stage in self.stages:
            if alive.numel() > 0:
                h, logits, conf = stage(h)
                p, max_p, entropy = exit_scores(logits)
                leave = self._leaves(self.thresholds[k], max_p, entropy, conf)
                pred[alive[leave]] = p[leave]
                exit_index[alive[leave]] = k
                stay = torch.logical_not(leave)
                alive, h = alive[stay], h[stay]
            k += 1
        if alive.numel() > 0:
            pred[alive] = exit_scores(self.final(h))[0]
            exit_index[alive] = k
        return pred, exit_index

    def _leaves(self, threshold: float, max_p: torch.Tensor, entropy: torch.Tensor,
                conf: torch.Tensor | None) -> torch.Tensor:
        """The registered policy's rule (`ExitPolicy.fires`) in a form TorchScript compiles."""
        score = max_p
        if self.score == "entropy":
            score = entropy
        elif self.score == "confidence":
            assert conf is not None, "the confidence policy needs a confidence branch"
            score = conf
        return score >= threshold if self.leaves_above else score <= threshold

    @torch.jit.export
    def from_uint8(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw uint8 (or 0..255 float) N x 3 x H x W images, normalised as the loader does."""
        return self.forward((images.float() - self.shift) / self.scale)


def trace_pieces(pieces: Pieces, example: torch.Tensor) -> tuple[list[torch.jit.ScriptModule],
                                                                 list[torch.jit.ScriptModule]]:
    """Trace every segment and head on the features the example batch produces there."""
    segments, heads = [], []
    h = example
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.simplefilter("ignore", category=FutureWarning)  # torch.jit.* is "deprecated"
        for i, seg in enumerate(pieces.segments):
            segments.append(torch.jit.trace(seg, (h,)))
            if i < len(pieces.heads):
                h = seg(h)
                heads.append(torch.jit.trace(pieces.heads[i], (h,)))
    return segments, heads


def build_program(pieces: Pieces, plan: ExitPlan, example: torch.Tensor,
                  mean: Sequence[float], std: Sequence[float]) -> torch.jit.ScriptModule:
    """The scripted early-exit program of `plan` over traced pieces (example: one input batch)."""
    check_exportable(plan, pieces)
    segments, heads = trace_pieces(pieces, example)
    stages = [(ConfidenceStage if pieces.heads[i].has_confidence else Stage)(segments[i], heads[i])
              for i in range(len(heads))]
    program = EarlyExitProgram(stages, segments[-1], plan.policy, plan.thresholds, mean, std)
    program.to(example.device).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)  # torch.jit.* is "deprecated"
        return torch.jit.script(program)


__all__ = ["ConfidenceStage", "EarlyExitProgram", "Stage", "build_program", "check_exportable",
           "trace_pieces"]
