"""CIFAR-10 and CIFAR-100 through torchvision's readers (and downloader), kept as uint8 tensors."""
from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from hadas.config import DataConfig
from hadas.data.splits import assemble, carve_val
from hadas.data.tensors import DataSplits, ImageTensors
from hadas.errors import DataError

# dataset name -> (torchvision reader, title, class count)
_KINDS = {"cifar10": ("CIFAR10", "CIFAR-10", 10), "cifar100": ("CIFAR100", "CIFAR-100", 100)}


def load_cifar(cfg: DataConfig) -> DataSplits:
    """CIFAR-10/100 under `cfg.root`: the official test split, val carved out of train."""
    reader_name, title, n_classes = _KINDS[cfg.dataset]
    reader = getattr(_torchvision_datasets(), reader_name)
    root = Path(cfg.root)
    folder = root / reader.base_folder
    try:
        train_set = reader(root=str(root), train=True, download=cfg.download)
        test_set = reader(root=str(root), train=False)
    except RuntimeError as exc:
        if not cfg.download and not folder.is_dir():
            raise DataError(f"{title} not found under {root}: set data.download: true in the "
                            f"config (or pass --download) to fetch it, or put the extracted "
                            f"'{reader.base_folder}' folder there") from None
        raise DataError(f"{title} under {folder} is incomplete or corrupted ({exc}): delete the "
                        "folder and set data.download: true (or pass --download)") from None
    except OSError as exc:  # urllib's URLError included
        raise DataError(f"could not download {title} from {reader.url} into {root}: {exc}; "
                        f"fetch it by hand and extract '{reader.base_folder}' there") from None
    train, val = carve_val(_tensors(train_set), cfg)
    return assemble(cfg.dataset, train, val, _tensors(test_set), n_classes, cfg.image_size)


def _tensors(dataset: Any) -> ImageTensors:
    images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW
    return ImageTensors(images, torch.tensor(dataset.targets, dtype=torch.int64))


def _torchvision_datasets() -> ModuleType:
    try:
        from torchvision import datasets
    except ImportError:
        raise DataError("CIFAR needs torchvision: pip install hadas[vision]") from None
    return datasets
