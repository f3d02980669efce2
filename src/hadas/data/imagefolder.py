"""A generic image-folder dataset: root/train/<class>/* and root/test/<class>/*."""
from __future__ import annotations

from pathlib import Path

import torch

from hadas.config import DataConfig
from hadas.data.images import list_images, read_images
from hadas.data.splits import assemble, carve_val
from hadas.data.tensors import DataSplits, ImageTensors
from hadas.errors import ConfigError, DataError


def load_imagefolder(cfg: DataConfig) -> DataSplits:
    """Classes are the sorted folder names of train; images are resized to data.image_size."""
    if cfg.image_size is None:
        raise ConfigError("data.image_size", "required for dataset imagefolder (images are "
                                             "resized to it)")
    root = Path(cfg.root)
    train_dir, test_dir = root / "train", root / "test"
    for folder in (train_dir, test_dir):
        if not folder.is_dir():
            raise DataError(f"{folder} not found: data.root must hold train/<class>/ and "
                            "test/<class>/ folders of images")
    classes = sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"no class folders in {train_dir}")
    unknown = sorted({p.name for p in test_dir.iterdir() if p.is_dir()} - set(classes))
    if unknown:
        raise DataError(f"{test_dir} has classes absent from {train_dir}: {', '.join(unknown)}")
    train, val = carve_val(_read(train_dir, classes, cfg.image_size, every_class=True), cfg)
    test = _read(test_dir, classes, cfg.image_size, every_class=False)
    return assemble("imagefolder", train, val, test, len(classes), cfg.image_size)


def _read(split_dir: Path, classes: list[str], size: int, *, every_class: bool) -> ImageTensors:
    paths, labels = [], []
    for label, name in enumerate(classes):
        folder = split_dir / name
        files = list_images(folder) if folder.is_dir() else []
        if every_class and not files:
            raise DataError(f"no images in {folder}")
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise DataError(f"no images in the class folders of {split_dir}")
    return ImageTensors(read_images(paths, size), torch.tensor(labels, dtype=torch.int64))
