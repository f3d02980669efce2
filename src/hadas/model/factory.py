"""Create a supernet from a run config, load its weights, pick the torch device."""
from __future__ import annotations

from pathlib import Path

import torch

from hadas.config import HadasConfig
from hadas.errors import ConfigError
from hadas.model.checkpoint import load_supernet_state, read_checkpoint
from hadas.model.supernet import Supernet

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` is CUDA when available, else CPU; asking for CUDA without it is an error."""
    if name not in DEVICES and not name.startswith("cuda:"):
        raise ConfigError("device", f"got {name!r}", DEVICES)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device", "CUDA was asked for but torch sees no CUDA device",
                          ["auto", "cpu"])
    return torch.device(name)


def create_supernet(cfg: HadasConfig) -> Supernet:
    """A freshly initialised supernet for the config."""
    m = cfg.model
    return Supernet(cfg.supernet, dropout=m.dropout, drop_connect=m.drop_connect,
                    bn_eps=m.bn_eps, bn_momentum=m.bn_momentum)


def load_supernet(cfg: HadasConfig, checkpoint: str | Path,
                  device: torch.device | str = "cpu") -> Supernet:
    """A supernet for the config with the weights of a checkpoint (ours or AttentiveNAS)."""
    payload = read_checkpoint(checkpoint)  # fail fast on a bad path, before building the net
    net = create_supernet(cfg)
    load_supernet_state(net, payload)
    return net.to(device).eval()
