"""Decoding image files with PIL into one uint8 N x 3 x S x S tensor."""
from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from hadas.errors import DataError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})


def list_images(folder: Path) -> list[Path]:
    """The image files directly inside `folder`, sorted by name."""
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def read_images(paths: Sequence[Path], size: int | None) -> torch.Tensor:
    """Decode `paths` as RGB, resized (bilinear) to size x size when set, else of one size."""
    if not paths:
        raise DataError("no images to read")
    image_module = _pil_image()

    def decode(path: Path) -> np.ndarray:
        try:
            with image_module.open(path) as img:
                rgb = img.convert("RGB")
        except OSError as exc:  # PIL's UnidentifiedImageError included
            raise DataError(f"cannot read image {path}: {exc}") from None
        if size is not None and rgb.size != (size, size):
            rgb = rgb.resize((size, size), image_module.Resampling.BILINEAR)
        return np.asarray(rgb)

    out: np.ndarray | None = None
    with ThreadPoolExecutor() as pool:  # PIL releases the GIL while decoding
        for i, (path, array) in enumerate(zip(paths, pool.map(decode, paths), strict=True)):
            if out is None:
                out = np.empty((len(paths), *array.shape), dtype=np.uint8)
            elif array.shape != out.shape[1:]:
                h, w = out.shape[1:3]
                raise DataError(f"{path} is {array.shape[1]}x{array.shape[0]}, not {w}x{h} like "
                                f"{paths[0]}: set data.image_size to resize them all")
            out[i] = array
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def _pil_image() -> ModuleType:
    try:
        from PIL import Image
    except ImportError:
        raise DataError("reading image files needs Pillow: pip install hadas[vision]") from None
    return Image
