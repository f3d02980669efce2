"""In-memory image splits: uint8 N x 3 x H x W images with int64 labels, plus their statistics."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from hadas.errors import DataError

Triple = tuple[float, float, float]
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ImageTensors:
    """One split held in memory: uint8 images (N, 3, H, W) and int64 labels (N,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4 or self.images.shape[1] != 3:
            raise ValueError(f"images must be uint8 (N, 3, H, W), got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or self.labels.shape != self.images.shape[:1]:
            raise ValueError(f"labels must be int64 ({len(self.images)},), got {self.labels.dtype} "
                             f"{tuple(self.labels.shape)}")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: torch.Tensor) -> ImageTensors:
        """The images and labels at `indices`, in that order."""
        return ImageTensors(self.images[indices], self.labels[indices])


@dataclass(frozen=True)
class DataSplits:
    """A dataset's train / optional val / test splits with the train split's channel statistics."""

    name: str
    train: ImageTensors
    val: ImageTensors | None
    test: ImageTensors
    n_classes: int
    mean: Triple
    std: Triple

    def split(self, name: str) -> ImageTensors:
        """The split called `name` ("train", "val" or "test")."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r} (allowed: {', '.join(SPLITS)})")
        data = getattr(self, name)
        if data is None:
            raise DataError(f"{self.name} has no validation split: set data.val_fraction > 0 "
                            "to hold one out of train")
        return data


def channel_stats(images: torch.Tensor) -> tuple[Triple, Triple]:
    """Exact per-channel mean and std of uint8 images in 0..1 units, from value histograms."""
    values = torch.arange(256, dtype=torch.float64)
    mean, std = [], []
    for c in range(3):
        counts = torch.bincount(images[:, c].reshape(-1), minlength=256).double()
        p = counts / counts.sum()
        m = float((p * values).sum())
        mean.append(m / 255)
        std.append(max(float((p * values**2).sum()) - m * m, 0.0) ** 0.5 / 255)
    return tuple(mean), tuple(std)  # type: ignore[return-value]


def resize_images(images: torch.Tensor, size: int, chunk: int = 1024) -> torch.Tensor:
    """Bilinear (antialiased) resize of uint8 images to size x size; unchanged if already so."""
    if images.shape[-2:] == (size, size):
        return images
    out = [F.interpolate(part.float(), size=(size, size), mode="bilinear", antialias=True,
                         align_corners=False).round_().clamp_(0, 255).to(torch.uint8)
           for part in images.split(chunk)]
    return torch.cat(out) if out else images.new_empty((0, 3, size, size))
