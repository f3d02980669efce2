"""Count multiply-accumulates of a real module (published convention), to cross-check skeletons."""
from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def count_macs(module: nn.Module, input_shape: tuple[int, ...]) -> int:
    """MACs of convolutions and linear layers for one forward pass at batch 1."""
    total = 0

    def conv_hook(m: nn.Conv2d, _: tuple, out: torch.Tensor) -> None:
        nonlocal total
        total += m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1] * out[0].numel()

    def linear_hook(m: nn.Linear, _: tuple, out: torch.Tensor) -> None:
        nonlocal total
        total += m.in_features * m.out_features

    hooks = [m.register_forward_hook(conv_hook) for m in module.modules()
             if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_hook(linear_hook) for m in module.modules()
              if isinstance(m, nn.Linear)]
    was_training = module.training
    try:
        module.eval()(torch.zeros(1, *input_shape, device=next(module.parameters()).device))
    finally:
        for h in hooks:
            h.remove()
        module.train(was_training)
    return total
