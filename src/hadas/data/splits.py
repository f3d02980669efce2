"""Deterministic stratified hold-outs and the assembly of a dataset's splits."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from hadas.config import DataConfig
from hadas.data.tensors import DataSplits, ImageTensors, channel_stats, resize_images
from hadas.errors import ConfigError


def hold_out(data: ImageTensors, n_held: int, seed: int,
             field: str) -> tuple[ImageTensors, ImageTensors]:
    """Split `n_held` items off `data`, stratified by label; the same seed gives the same split."""
    try:
        kept, held = train_test_split(np.arange(len(data)), test_size=n_held, random_state=seed,
                                      stratify=data.labels.numpy())
    except ValueError as exc:
        raise ConfigError(field, f"cannot hold out a stratified {n_held} of {len(data)} "
                                 f"images: {exc}") from None
    return (data.subset(torch.from_numpy(np.sort(kept))),
            data.subset(torch.from_numpy(np.sort(held))))


def carve_val(train: ImageTensors, cfg: DataConfig) -> tuple[ImageTensors, ImageTensors | None]:
    """Hold `cfg.val_fraction` of train out as validation (None when nothing is held out)."""
    n_val = round(cfg.val_fraction * len(train))
    if n_val == 0:
        return train, None
    return hold_out(train, n_val, cfg.split_seed, "data.val_fraction")


def assemble(name: str, train: ImageTensors, val: ImageTensors | None, test: ImageTensors,
             n_classes: int, image_size: int | None) -> DataSplits:
    """Resize every split to `image_size` (if set) and attach the train split's statistics."""
    if image_size is not None:
        train, test = _resized(train, image_size), _resized(test, image_size)
        val = None if val is None else _resized(val, image_size)
    mean, std = channel_stats(train.images)
    return DataSplits(name, train, val, test, n_classes, mean, std)


def _resized(data: ImageTensors, size: int) -> ImageTensors:
    return ImageTensors(resize_images(data.images, size), data.labels)
