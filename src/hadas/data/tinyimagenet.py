"""Tiny-ImageNet-200 from its extracted archive; its labelled val set serves as the test split."""
from __future__ import annotations

from pathlib import Path

import torch

from hadas.config import DataConfig
from hadas.data.images import read_images
from hadas.data.splits import assemble, carve_val
from hadas.data.tensors import DataSplits, ImageTensors
from hadas.errors import DataError

FOLDER = "tiny-imagenet-200"
URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"


def load_tinyimagenet(cfg: DataConfig) -> DataSplits:
    """Train images per wnid folder, test from val/val_annotations.txt; classes are sorted wnids."""
    base = _find(Path(cfg.root))
    wnids = sorted(set((base / "wnids.txt").read_text().split()))
    index = {wnid: i for i, wnid in enumerate(wnids)}
    train_paths, train_labels = [], []
    for wnid in wnids:
        folder = base / "train" / wnid / "images"
        files = sorted(folder.glob("*.JPEG")) if folder.is_dir() else []
        if not files:
            raise DataError(f"no training images in {folder}: re-extract {URL} under {cfg.root}")
        train_paths += files
        train_labels += [index[wnid]] * len(files)
    test_paths, test_labels = _annotated_val(base, index)
    train, val = carve_val(_read(train_paths, train_labels, cfg.image_size), cfg)
    test = _read(test_paths, test_labels, cfg.image_size)
    return assemble("tinyimagenet", train, val, test, len(wnids), cfg.image_size)


def _find(root: Path) -> Path:
    for base in (root / FOLDER, root):
        if (base / "wnids.txt").is_file():
            return base
    raise DataError(f"Tiny-ImageNet-200 not found under {root} (no {root / FOLDER / 'wnids.txt'}): "
                    f"it is not downloaded automatically; get {URL} and extract it into {root}")


def _annotated_val(base: Path, index: dict[str, int]) -> tuple[list[Path], list[int]]:
    annotations = base / "val" / "val_annotations.txt"
    if not annotations.is_file():
        raise DataError(f"{annotations} not found: re-extract {URL} under {base.parent}")
    paths, labels = [], []
    for n, line in enumerate(annotations.read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2 or fields[1] not in index:
            raise DataError(f"{annotations}:{n}: expected 'file<TAB>wnid<TAB>...' with a wnid from "
                            f"wnids.txt, got {line!r}")
        paths.append(base / "val" / "images" / fields[0])
        labels.append(index[fields[1]])
    missing = next((p for p in paths if not p.is_file()), None)
    if missing is not None:
        raise DataError(f"{missing} (listed in {annotations}) not found: re-extract {URL}")
    return paths, labels


def _read(paths: list[Path], labels: list[int], size: int | None) -> ImageTensors:
    return ImageTensors(read_images(paths, size), torch.tensor(labels, dtype=torch.int64))
