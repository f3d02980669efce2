"""`ExitCache`: what every candidate exit says about every evaluation sample, recorded once.

Rows are the candidate exit positions in order, then the final classifier (last row).
Stored compactly as a compressed .npz: predictions int16, correctness bool, scores float32.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hadas.atomic import write_atomic
from hadas.data import TensorLoader
from hadas.errors import CorruptFileError
from hadas.exits.heads import exit_scores
from hadas.exits.network import MultiExitNetwork


@dataclass(frozen=True)
class ExitCache:
    positions: tuple[int, ...]       # candidate exit positions (rows 0..len-1); final row last
    labels: np.ndarray               # [n_samples] int64
    pred: np.ndarray                 # [n_exits + 1, n_samples] int16
    correct: np.ndarray              # [n_exits + 1, n_samples] bool
    max_softmax: np.ndarray          # [n_exits + 1, n_samples] float32
    entropy: np.ndarray              # [n_exits + 1, n_samples] float32
    confidence: np.ndarray | None    # [n_exits + 1, n_samples] float32 (final row NaN) or None

    @property
    def n_samples(self) -> int:
        return len(self.labels)

    def row(self, position: int) -> int:
        """Row of a candidate exit position."""
        return self.positions.index(position)

    def accuracy(self) -> np.ndarray:
        """Top-1 (%) of every candidate exit and the final classifier on all samples."""
        return 100.0 * self.correct.mean(axis=1)

    def save(self, path: str | Path) -> None:
        """Atomic write (tmp + rename)."""
        arrays: dict[str, Any] = dict(positions=np.array(self.positions, dtype=np.int64),
                                      labels=self.labels, pred=self.pred, correct=self.correct,
                                      max_softmax=self.max_softmax, entropy=self.entropy)
        if self.confidence is not None:
            arrays["confidence"] = self.confidence
        write_atomic(path, lambda f: np.savez_compressed(f, **arrays))

    @classmethod
    def load(cls, path: str | Path) -> "ExitCache":
        """A stored cache; CorruptFileError for a truncated or inconsistent file."""
        try:
            with np.load(path) as z:
                cache = cls(tuple(int(p) for p in z["positions"]), z["labels"], z["pred"],
                            z["correct"], z["max_softmax"], z["entropy"],
                            z["confidence"] if "confidence" in z.files else None)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise CorruptFileError(path, f"{type(exc).__name__}: {exc}") from None
        shape = (len(cache.positions) + 1, cache.n_samples)  # every exit, then the final classifier
        arrays = [cache.pred, cache.correct, cache.max_softmax, cache.entropy]
        if cache.confidence is not None:
            arrays.append(cache.confidence)
        if cache.labels.ndim != 1 or any(a.shape != shape for a in arrays):
            raise CorruptFileError(path, f"arrays of shapes {[a.shape for a in arrays]} for "
                                   f"{shape[0] - 1} exits and {shape[1]} samples")
        return cache


@torch.no_grad()
def build_exit_cache(net: MultiExitNetwork, loader: TensorLoader) -> ExitCache:
    """One pass over the loader through every candidate exit and the final classifier."""
    net.eval()
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("pred", "max_p", "entropy", "conf")}
    labels = []
    has_conf = any(net.head(p).confidence is not None for p in net.positions)
    for x, y in loader:
        out = net(x)
        scores = [exit_scores(lg) for lg in out.logits]
        cols["pred"].append(torch.stack([s[0] for s in scores]).cpu().numpy())
        cols["max_p"].append(torch.stack([s[1] for s in scores]).cpu().numpy())
        cols["entropy"].append(torch.stack([s[2] for s in scores]).cpu().numpy())
        if has_conf:
            nan = torch.full_like(scores[0][1], float("nan"))
            cols["conf"].append(torch.stack([c if c is not None else nan
                                             for c in out.confidence]).float().cpu().numpy())
        labels.append(y.cpu().numpy())
    targets = np.concatenate(labels).astype(np.int64)
    pred = np.concatenate(cols["pred"], axis=1)
    return ExitCache(net.positions, targets, pred.astype(np.int16), pred == targets[None, :],
                     np.concatenate(cols["max_p"], axis=1).astype(np.float32),
                     np.concatenate(cols["entropy"], axis=1).astype(np.float32),
                     np.concatenate(cols["conf"], axis=1).astype(np.float32) if has_conf else None)
