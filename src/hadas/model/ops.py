"""Small building blocks shared by the supernet and its static sub-networks."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class HardSigmoid(nn.Module):
    """relu6(x + 3) / 6, the gate of squeeze-and-excitation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(x + 3.0) / 6.0


class HardSwish(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * F.relu6(x + 3.0) / 6.0


def activation(name: str) -> nn.Module:
    """The activation of a stage, by its `act_func` name."""
    return {"swish": nn.SiLU, "relu": nn.ReLU, "relu6": nn.ReLU6, "h_swish": HardSwish}[name]()


def resize_input(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """Bicubic resize to the sub-network's resolution when the input differs."""
    if x.shape[-1] == resolution and x.shape[-2] == resolution:
        return x
    return F.interpolate(x, size=(resolution, resolution), mode="bicubic", align_corners=False)


def shortcut_pool(x: torch.Tensor, stride: int) -> torch.Tensor:
    """Average pooling of the shortcut for strided blocks (padding 1 when the size is odd)."""
    if stride == 1:
        return x
    padding = 0 if x.shape[-1] % 2 == 0 else 1
    return F.avg_pool2d(x, stride, stride=stride, padding=padding)


def drop_connect(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Drop the residual branch of whole samples with probability `rate` (training only)."""
    if not training or rate <= 0.0:
        return x
    keep = 1.0 - rate
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x * mask / keep
