"""Appending samples to a profile: the append-only line form (one line per sample) against
rewriting the whole file per sample (what `append_sample` did before `hadas-profile/3`: read,
validate and atomically rewrite everything). Both build the same profile, side by side.

    .venv/bin/python bench/profile_append.py --samples 200 400 800
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from hadas.config import load_config
from hadas.hardware.profile_format import (ProfileSample, SegmentSample, append_sample,
                                           read_profile, write_profile)
from hadas.space import BackboneSpace, ExitPlan

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "tiny-digits.yaml"


def samples(n: int) -> list[ProfileSample]:
    space = BackboneSpace(load_config(CONFIG).supernet)
    rng = np.random.default_rng(0)
    segs = (SegmentSample("backbone", 0, 1.0, 0.01, 2.0, None),
            SegmentSample("exit", 0, 0.1, 0.001, 0.2, None),
            SegmentSample("backbone", 1, 1.5, 0.01, 3.0, None))
    return [ProfileSample(space.sample(rng).to_dict(), ExitPlan((2,)).to_dict(),
                          {"gpu": 100_000_000 + i}, segs) for i in range(n)]


def rewrite(path: Path, sample: ProfileSample) -> None:
    """The old append: the whole profile read, validated and written again."""
    old = read_profile(path)
    write_profile(path, old.platform, old.config, old.exit_channels, (*old.samples, sample),
                  old.host, old.created)


def timed(path: Path, todo: list[ProfileSample], add) -> float:
    write_profile(path, "local", str(CONFIG), 8)
    t0 = time.perf_counter()
    for s in todo:
        add(path, s)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, nargs="+", default=[200, 400, 800])
    args = parser.parse_args()
    print(f"{'samples':>8} {'append-only s':>14} {'rewrite s':>10} {'ratio':>7}")
    for n in args.samples:
        todo = samples(n)
        with tempfile.TemporaryDirectory() as tmp:
            lines = timed(Path(tmp) / "lines.jsonl", todo, append_sample)
            whole = timed(Path(tmp) / "whole.jsonl", todo, rewrite)
            assert read_profile(Path(tmp) / "lines.jsonl").samples == tuple(todo)
            assert read_profile(Path(tmp) / "whole.jsonl").samples == tuple(todo)
        print(f"{n:>8} {lines:>14.3f} {whole:>10.3f} {whole / lines:>6.1f}x")


if __name__ == "__main__":
    main()
