"""scikit-learn's bundled 8x8 handwritten digits: a dataset that needs no download."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits as sklearn_digits

from hadas.config import DataConfig
from hadas.data.splits import assemble, hold_out
from hadas.data.tensors import DataSplits, ImageTensors
from hadas.errors import ConfigError


def load_digits(cfg: DataConfig) -> DataSplits:
    """1797 digits as 3-channel uint8 8x8 images, split stratified by test and val fractions."""
    bunch = sklearn_digits()
    gray = torch.from_numpy(np.rint(bunch.images * 255 / 16).astype(np.uint8))
    full = ImageTensors(gray.unsqueeze(1).expand(-1, 3, -1, -1).contiguous(),
                        torch.from_numpy(bunch.target.astype(np.int64)))
    n_test = round(cfg.test_fraction * len(full))
    if n_test == 0:
        raise ConfigError("data.test_fraction", f"must hold out at least one of the {len(full)} "
                                                f"digits (they ship no test split), got "
                                                f"{cfg.test_fraction}")
    rest, test = hold_out(full, n_test, cfg.split_seed, "data.test_fraction")
    n_val = round(cfg.val_fraction * len(full))  # a fraction of the whole set, as test_fraction
    train, val = (hold_out(rest, n_val, cfg.split_seed, "data.val_fraction") if n_val
                  else (rest, None))
    return assemble("digits", train, val, test, 10, cfg.image_size)
