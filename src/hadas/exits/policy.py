"""Exit policies: when does a sample leave at an early exit?

- `max_softmax`: max softmax probability >= threshold (default)
- `entropy`: entropy of the softmax (nats) <= threshold
- `confidence`: learned confidence >= threshold (needs confidence heads)
- `oracle`: leaves at the first exit that classifies it correctly, else at the final exit.
  A bound for comparisons with the original paper's accounting, never a deployable policy:
  it needs the label.
"""
from __future__ import annotations

import torch

DEPLOYABLE = ("max_softmax", "entropy", "confidence")


def fires(policy: str, threshold: float, max_p: torch.Tensor, entropy: torch.Tensor,
          confidence: torch.Tensor | None, correct: torch.Tensor | None = None) -> torch.Tensor:
    """Boolean mask of the samples that leave at this exit."""
    if policy == "max_softmax":
        return max_p >= threshold
    if policy == "entropy":
        return entropy <= threshold
    if policy == "confidence":
        if confidence is None:
            raise ValueError("policy 'confidence' needs exit heads trained with a confidence branch")
        return confidence >= threshold
    if policy == "oracle":
        if correct is None:
            raise ValueError("the oracle policy needs labels: it is a bound, not a deployable policy")
        return correct
    raise ValueError("unknown exit policy " + policy)
