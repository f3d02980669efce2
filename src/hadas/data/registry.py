"""`load_data`: the dataset named by the config, with its class count checked."""
from __future__ import annotations

from collections.abc import Callable

from hadas.config import DataConfig
from hadas.data.cifar import load_cifar
from hadas.data.digits import load_digits
from hadas.data.imagefolder import load_imagefolder
from hadas.data.tensors import DataSplits
from hadas.data.tinyimagenet import load_tinyimagenet
from hadas.errors import ConfigError

LOADERS: dict[str, Callable[[DataConfig], DataSplits]] = {
    "digits": load_digits,
    "cifar10": load_cifar,
    "cifar100": load_cifar,
    "tinyimagenet": load_tinyimagenet,
    "imagefolder": load_imagefolder,
}


def load_data(cfg: DataConfig) -> DataSplits:
    """Load `cfg.dataset` into memory; ConfigError if `cfg.n_classes` contradicts it."""
    if cfg.dataset not in LOADERS:
        raise ConfigError("data.dataset", f"got {cfg.dataset!r}", LOADERS)
    splits = LOADERS[cfg.dataset](cfg)
    if cfg.n_classes is not None and cfg.n_classes != splits.n_classes:
        raise ConfigError("data.n_classes", f"is {cfg.n_classes}, but {cfg.dataset} under "
                                            f"{cfg.root} has {splits.n_classes} classes")
    return splits
