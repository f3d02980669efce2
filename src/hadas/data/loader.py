"""Batches of an in-memory split, augmented and normalised on the device in whole batches."""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from hadas.data.tensors import ImageTensors


class TensorLoader:
    """Batches of a split, kept as tensors on `device`; augmentation (random crop with zero padding
    of size//8 + horizontal flip) is done batched on the device, not per image in Python.

    Sharded (`world_size` > 1), `batch_size` is the global batch: every process walks the same
    seeded order and draws the same augmentation for the whole batch, then keeps every
    `world_size`-th image of it from `rank` on. The union of the shards of a batch is exactly the
    batch, augmented exactly as one process would have it."""

    def __init__(self, data: ImageTensors, batch_size: int, *, mean: Sequence[float],
                 std: Sequence[float], device: str | torch.device = "cpu", shuffle: bool = False,
                 augment: bool = False, drop_last: bool = False, seed: int = 0, rank: int = 0,
                 world_size: int = 1) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in 0..{world_size - 1}, got {rank}")
        self.rank, self.world_size = rank, world_size
        self.device = torch.device(device)
        self.images = data.images.to(self.device)  # uint8, moved once
        self.labels = data.labels.to(self.device)
        # normalising raw 0..255 values: (x - 255 mean) / (255 std)
        self.shift = self._per_channel(mean) * 255
        self.scale = self._per_channel(std) * 255
        self.batch_size, self.shuffle, self.augment = batch_size, shuffle, augment
        self.drop_last, self.seed, self.epoch = drop_last, seed, 0

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose shuffling order and augmentation the next passes reproduce."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        # all randomness comes from a CPU generator seeded by (seed, epoch): same on every device
        state = np.random.SeedSequence([self.seed, self.epoch]).generate_state(1)[0]
        gen = torch.Generator().manual_seed(int(state))
        n = len(self.labels)
        order = torch.randperm(n, generator=gen) if self.shuffle else torch.arange(n)
        order = order.to(self.device)
        shard = slice(self.rank, None, self.world_size)  # this process's images of each batch
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            draws = self._draws(len(idx), gen) if self.augment else ()
            idx = idx[shard]
            images = self.images[idx]
            if self.augment:
                images = self._crop_and_flip(images, *(d[shard] for d in draws))
            yield (images.float() - self.shift) / self.scale, self.labels[idx]

    def _per_channel(self, values: Sequence[float]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)

    def _draws(self, b: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        """Crop offsets (rows, columns) and flips for `b` images."""
        h, w = self.images.shape[-2:]
        dy = torch.randint(0, 2 * (h // 8) + 1, (b, 1), generator=gen).to(self.device)
        dx = torch.randint(0, 2 * (w // 8) + 1, (b, 1), generator=gen).to(self.device)
        flip = (torch.rand(b, 1, generator=gen) < 0.5).to(self.device)
        return dy, dx, flip

    def _crop_and_flip(self, images: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor,
                       flip: torch.Tensor) -> torch.Tensor:
        """Crop of the zero-padded images at (dy, dx), flipped where `flip`, as one gather."""
        b, c, h, w = images.shape
        ph, pw = h // 8, w // 8
        ys = torch.arange(h, device=self.device)
        xs = torch.arange(w, device=self.device)
        rows = dy + ys                                    # (b, h) rows of the padded image
        cols = dx + torch.where(flip, xs.flip(0), xs)     # (b, w) columns, reversed when flipped
        padded = F.pad(images, (pw, pw, ph, ph))
        batch = torch.arange(b, device=self.device).view(b, 1, 1, 1)
        chans = torch.arange(c, device=self.device).view(1, c, 1, 1)
        return padded[batch, chans, rows.view(b, 1, h, 1), cols.view(b, 1, 1, w)]
