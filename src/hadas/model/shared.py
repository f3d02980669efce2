"""Weight-sharing layers: each holds the largest tensor and runs on its leading slice.

Fewer channels use the leading slice of every weight and BN tensor; a smaller kernel uses the
centre crop of the largest kernel (the AttentiveNAS convention, so its checkpoints apply).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hadas.model.ops import activation


def centre_crop(weight: torch.Tensor, kernel: int) -> torch.Tensor:
    """The central kernel x kernel window of a conv weight."""
    start = (weight.shape[-1] - kernel) // 2
    return weight[..., start:start + kernel, start:start + kernel]


class SharedConv2d(nn.Module):
    """A conv whose active in/out channels and kernel are chosen per call ('same' padding)."""

    def __init__(self, max_in: int, max_out: int, max_kernel: int = 1, depthwise: bool = False,
                 bias: bool = False):
        super().__init__()
        self.depthwise = depthwise
        self.weight = nn.Parameter(torch.empty(max_out, 1 if depthwise else max_in,
                                               max_kernel, max_kernel))
        self.bias = nn.Parameter(torch.zeros(max_out)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def forward(self, x: torch.Tensor, out_channels: int | None = None, kernel: int | None = None,
                stride: int = 1) -> torch.Tensor:
        cin = x.shape[1]
        cout = cin if self.depthwise else (out_channels or self.weight.shape[0])
        kernel = kernel or self.weight.shape[-1]
        w = centre_crop(self.weight[:cout, : 1 if self.depthwise else cin], kernel)
        b = self.bias[:cout] if self.bias is not None else None
        return F.conv2d(x, w, b, stride, kernel // 2, 1, cin if self.depthwise else 1)


class SharedBatchNorm2d(nn.Module):
    """BatchNorm over the leading channels of the input (running stats shared by slicing)."""

    running_mean: torch.Tensor           # buffers, registered in __init__
    running_var: torch.Tensor
    num_batches_tracked: torch.Tensor

    def __init__(self, max_channels: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(max_channels))
        self.bias = nn.Parameter(torch.zeros(max_channels))
        self.register_buffer("running_mean", torch.zeros(max_channels))
        self.register_buffer("running_var", torch.ones(max_channels))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        if self.training:
            self.num_batches_tracked += 1
        # slices are views: in training, F.batch_norm updates the shared running stats in place
        return F.batch_norm(x, self.running_mean[:c], self.running_var[:c], self.weight[:c],
                            self.bias[:c], self.training, self.momentum, self.eps)


class SharedConvBN(nn.Module):
    """SharedConv2d -> SharedBatchNorm2d -> (activation)."""

    def __init__(self, max_in: int, max_out: int, max_kernel: int = 1, depthwise: bool = False,
                 act: str | None = None, bn_eps: float = 1e-5, bn_momentum: float = 0.1):
        super().__init__()
        self.conv = SharedConv2d(max_in, max_out, max_kernel, depthwise)
        self.bn = SharedBatchNorm2d(max_out, bn_eps, bn_momentum)
        self.act = activation(act) if act else nn.Identity()

    def forward(self, x: torch.Tensor, out_channels: int | None = None, kernel: int | None = None,
                stride: int = 1) -> torch.Tensor:
        return self.act(self.bn(self.conv(x, out_channels, kernel, stride)))


class SharedLinear(nn.Module):
    """A linear layer over the leading input features (all outputs always active)."""

    def __init__(self, max_in: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, max_in))
        self.bias = nn.Parameter(torch.zeros(out_features))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        bound = 1 / math.sqrt(max_in)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight[:, : x.shape[1]], self.bias)
