"""PyTorch models: the weight-sharing supernet, static sub-networks, checkpoints, FLOP counting."""
from hadas.model.checkpoint import (load_supernet_state, read_checkpoint, read_stored_checkpoint,
                                    save_atomic)
from hadas.model.factory import create_supernet, load_supernet, resolve_device
from hadas.model.subnet import SubNetwork
from hadas.model.supernet import Supernet

__all__ = ["SubNetwork", "Supernet", "create_supernet", "load_supernet", "load_supernet_state",
           "read_checkpoint", "read_stored_checkpoint", "resolve_device", "save_atomic"]
