"""Exit policies: when does a sample leave at an early exit? One registry, read by the config,
the exit plan, the CLI, the simulator, real early-exit inference and export.

A policy compares one per-sample score of an exit with the threshold. The scores come as numpy
arrays (the exit simulator) or torch tensors (real inference): a comparison works on both, so
this module needs neither torch nor anything but the registry.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hadas.registry import Registry


@dataclass(frozen=True)
class ExitPolicy:
    name: str
    score: str            # the score it reads: max_softmax | entropy | confidence | correct
    leaves_above: bool    # leave when score >= threshold (else when score <= threshold)
    deployable: bool      # False: needs the labels (a bound for comparisons, never exported)
    rule: str             # one line for manifests and docs
    needs: str = ""       # what is missing when the score is absent

    def fires(self, threshold: float, scores: Mapping[str, Any]) -> Any:
        """Boolean mask (numpy or torch, as the scores) of the samples that leave here."""
        score = scores.get(self.score)
        if score is None:
            raise ValueError(self.needs or f"policy {self.name!r} needs the {self.score} score")
        if self.score == "correct":
            return score
        return score >= threshold if self.leaves_above else score <= threshold


POLICIES: Registry[ExitPolicy] = Registry("exit policy", "exits.policy")
for _policy in (
    ExitPolicy("max_softmax", "max_softmax", True, True,
               "leave at exit i when max softmax probability >= threshold[i]"),
    ExitPolicy("entropy", "entropy", False, True,
               "leave at exit i when the softmax entropy (nats) <= threshold[i]"),
    ExitPolicy("confidence", "confidence", True, True,
               "leave at exit i when the learned confidence >= threshold[i]",
               "policy 'confidence' needs exit heads trained with a confidence branch"),
    ExitPolicy("oracle", "correct", True, False,
               "leave at the first exit that classifies the sample correctly (needs the label)",
               "the oracle policy needs labels: it is a bound, not a deployable policy"),
):
    POLICIES.register(_policy.name, _policy)

DEPLOYABLE = tuple(p.name for p in POLICIES if p.deployable)


def fires(policy: str, threshold: float, max_p: Any, entropy: Any, confidence: Any = None,
          correct: Any = None) -> Any:
    """Boolean mask of the samples that leave at this exit under `policy`."""
    return POLICIES.get(policy).fires(threshold, {"max_softmax": max_p, "entropy": entropy,
                                                  "confidence": confidence, "correct": correct})
