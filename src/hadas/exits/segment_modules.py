"""A DyNN's segments (`hadas.space.segments`) as torch modules, for measuring them: backbone
segments cut from the static sub-network, exit heads as the exit bank builds them."""
from __future__ import annotations

from torch import nn

from hadas.config import HadasConfig
from hadas.exits.heads import ExitHead
from hadas.model import SubNetwork
from hadas.space import Backbone, BackboneSpace, ExitPlan, segments


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
            module = ExitHead(block.out_channels, exit_channels, skeleton.n_classes,
                              min(3, block.out_size))
        out.append((seg.kind, seg.index, module.to(device).eval()))
    return out
