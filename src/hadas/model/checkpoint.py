"""Supernet checkpoints: our own format and published AttentiveNAS/HADAS files, one loader.

Published files hold `{"state_dict": ...}` (keys sometimes prefixed with `module.`) in the
AttentiveNAS naming; `ATTENTIVENAS_NAMES` maps those names onto our module tree in one place.
Any missing, mis-shaped or unused tensor is an error that names it.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hadas.atomic import write_atomic
from hadas.errors import CheckpointError, CorruptFileError

FORMAT = "hadas-supernet/1"

# (our name fragment, AttentiveNAS name fragment), applied as regular expressions in order
ATTENTIVENAS_NAMES: tuple[tuple[str, str], ...] = (
    (r"^stem\.conv\.", "first_conv.conv.conv."),
    (r"^stem\.bn\.", "first_conv.bn.bn."),
    (r"^(blocks\.\d+)\.expand\.conv\.", r"\1.mobile_inverted_conv.inverted_bottleneck.conv.conv."),
    (r"^(blocks\.\d+)\.expand\.bn\.", r"\1.mobile_inverted_conv.inverted_bottleneck.bn.bn."),
    (r"^(blocks\.\d+)\.depthwise\.conv\.", r"\1.mobile_inverted_conv.depth_conv.conv.conv."),
    (r"^(blocks\.\d+)\.depthwise\.bn\.", r"\1.mobile_inverted_conv.depth_conv.bn.bn."),
    (r"^(blocks\.\d+)\.se\.(reduce|expand)\.", r"\1.mobile_inverted_conv.depth_conv.se.fc.\2."),
    (r"^(blocks\.\d+)\.project\.conv\.", r"\1.mobile_inverted_conv.point_linear.conv.conv."),
    (r"^(blocks\.\d+)\.project\.bn\.", r"\1.mobile_inverted_conv.point_linear.bn.bn."),
    (r"^(blocks\.\d+)\.shortcut\.", r"\1.shortcut.conv.conv."),
    (r"^head\.expand\.conv\.", "last_conv.final_expand_layer.conv.conv."),
    (r"^head\.expand\.bn\.", "last_conv.final_expand_layer.bn.bn."),
    (r"^head\.mix\.", "last_conv.feature_mix_layer.conv.conv."),
    (r"^classifier\.", "classifier.linear.linear."),
)
_IGNORED = re.compile(r"\.bn_tracking\.")  # extra per-resolution BN statistics, not needed


def attentivenas_name(ours: str) -> str:
    """The AttentiveNAS checkpoint name of one of our supernet tensors."""
    for pattern, replacement in ATTENTIVENAS_NAMES:
        new = re.sub(pattern, replacement, ours)
        if new != ours:
            return new
    raise KeyError(ours)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint file on the CPU, with a clear error when it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many kinds for a corrupt file
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from None
    if not isinstance(payload, Mapping):
        raise CheckpointError(f"{path}: expected a mapping with a 'state_dict'")
    return dict(payload)


def read_stored_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint hadas itself stored (exit banks, their training state); one that cannot be
    read is a CorruptFileError that says how to recover."""
    try:
        return read_checkpoint(path)
    except CheckpointError as exc:
        problem = str(exc).removeprefix(f"cannot read checkpoint {path}: ")
        raise CorruptFileError(path, problem.splitlines()[0] if problem else "unreadable") from None


def load_supernet_state(model: nn.Module, payload: Mapping[str, Any],
                        new_classifier: bool = False) -> list[str]:
    """Load our or AttentiveNAS weights into `model`; returns the names left at their init.

    `new_classifier=True` keeps a fresh classifier when the checkpoint's has another number of
    classes (fine-tuning an ImageNet supernet on CIFAR, as HADAS did).
    """
    state = payload.get("state_dict", payload)
    state = {k.removeprefix("module."): v for k, v in state.items() if torch.is_tensor(v)}
    native = payload.get("format") == FORMAT or "stem.conv.weight" in state
    target = model.state_dict()
    loaded, skipped = {}, []
    for ours, ref in target.items():
        name = ours if native else attentivenas_name(ours)
        if name not in state:
            raise CheckpointError(f"checkpoint is missing tensor {name!r} (expected shape "
                                  f"{list(ref.shape)})")
        tensor = state.pop(name)
        if tensor.shape != ref.shape:
            if new_classifier and ours.startswith("classifier."):
                skipped.append(ours)
                continue
            raise CheckpointError(f"tensor {name!r} has shape {list(tensor.shape)}, the supernet "
                                  f"expects {list(ref.shape)}: the checkpoint was made for "
                                  "another supernet_config or number of classes")
        loaded[ours] = tensor
    unused = [k for k in state if not _IGNORED.search(k)]
    if unused:
        raise CheckpointError(f"checkpoint has {len(unused)} tensor(s) the supernet does not use, "
                              f"e.g. {unused[0]!r}: it was made for another supernet_config")
    model.load_state_dict({**target, **loaded})
    return skipped


def save_atomic(payload: Mapping[str, Any], path: str | Path) -> None:
    """Write a torch file atomically: a crash leaves either the old or the new file, whole."""
    write_atomic(path, lambda f: torch.save(dict(payload), f))
