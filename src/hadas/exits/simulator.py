"""The exit simulator: top-1 and exit rates of an exit plan from an `ExitCache`, no inference.

Vectorised over samples with bit masks: for every sample, bit r of a uint64 says whether
candidate row r would let it leave (policy fires); the final classifier's bit is always set.
The sample leaves at the lowest set bit among the plan's rows. Fire masks are memoised per
(policy, threshold), so scoring a plan costs a few array operations on n_samples integers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hadas.exits.cache import ExitCache
from hadas.space.policies import POLICIES
from hadas.space.exits import ExitPlan


@dataclass(frozen=True)
class Simulation:
    top1: float                      # percent over all samples
    exit_rates: np.ndarray           # [k + 1] fraction of samples leaving at each exit (final last)
    exit_accuracy: np.ndarray        # [k + 1] top-1 (%) of the samples leaving there (NaN if none)
    exit_index: np.ndarray | None    # [n_samples] exit index (0..k) of every sample, if asked


class ExitSimulator:
    def __init__(self, cache: ExitCache):
        n_rows = len(cache.positions) + 1
        if n_rows > 63:
            raise ValueError(f"at most 62 candidate exits are supported, got {n_rows - 1}")
        self.cache = cache
        self._shifts = np.arange(n_rows, dtype=np.uint64)[:, None]
        self._final_bit = np.uint64(1) << np.uint64(n_rows - 1)
        self._correct_bits = self._pack(cache.correct)
        self._all_rows: dict[tuple[str, float], np.ndarray] = {}
        self._one_row: dict[tuple[str, int, float], np.ndarray] = {}

    def _pack(self, rows: np.ndarray) -> np.ndarray:
        return np.bitwise_or.reduce(rows.astype(np.uint64) << self._shifts[: len(rows)], axis=0)

    def _fires(self, policy: str, threshold: float, rows: slice | int) -> np.ndarray:
        c = self.cache
        return np.asarray(POLICIES.get(policy).fires(threshold, {
            "max_softmax": c.max_softmax[rows], "entropy": c.entropy[rows],
            "confidence": None if c.confidence is None else c.confidence[rows],
            "correct": c.correct[rows]}))

    def _mask(self, plan: ExitPlan, rows: list[int]) -> np.ndarray:
        """Per sample, the bits of the plan's rows where the policy fires, plus the final bit."""
        plan_bits = np.uint64(sum(1 << r for r in rows))
        if len(set(plan.thresholds)) <= 1:
            t = plan.thresholds[0] if rows else 0.0
            key = (plan.policy, t)
            if key not in self._all_rows:
                self._all_rows[key] = self._pack(self._fires(plan.policy, t, slice(0, -1)))
            return (self._all_rows[key] & plan_bits) | self._final_bit
        mask = np.full(self.cache.n_samples, self._final_bit, dtype=np.uint64)
        for r, t in zip(rows, plan.thresholds):
            row_key = (plan.policy, r, t)
            if row_key not in self._one_row:
                bits = self._fires(plan.policy, t, r).astype(np.uint64)
                self._one_row[row_key] = bits << np.uint64(r)
            mask |= self._one_row[row_key]
        return mask

    def simulate(self, plan: ExitPlan, per_sample: bool = False) -> Simulation:
        """Top-1, exit rates and per-exit accuracy of `plan` (positions must be candidates)."""
        rows = [self.cache.row(p) for p in plan.positions]
        mask = self._mask(plan, rows)
        lowest = mask & (~mask + np.uint64(1))            # the first exit that fires
        row = np.frexp(lowest.astype(np.float64))[1] - 1  # exact: powers of two
        correct = (self._correct_bits & lowest) != 0
        n_rows = len(self.cache.positions) + 1
        counts = np.bincount(row, minlength=n_rows)
        hits = np.bincount(row, weights=correct, minlength=n_rows)
        used = [*rows, n_rows - 1]
        counts, hits = counts[used], hits[used]
        with np.errstate(invalid="ignore", divide="ignore"):
            exit_acc = np.where(counts > 0, 100.0 * hits / counts, np.nan)
        index = None
        if per_sample:
            lookup = np.zeros(n_rows, dtype=np.int64)
            lookup[used] = np.arange(len(used))
            index = lookup[row]
        n = self.cache.n_samples
        return Simulation(100.0 * correct.sum() / n, counts / n, exit_acc, index)
