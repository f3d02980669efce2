"""Where a search spends its time: one run of `hadas search` on the embedded default with its
exit banks trained from scratch, the wall time of one IOE after exit training, and the share
of each phase (backbone evaluation, exit training, inner search, storage).

    .venv/bin/python bench/search.py [--config configs/tiny-digits.yaml] [--seed 0]

The supernet is trained once (or reused) under runs/<name>/supernet and copied to a temporary
folder, so that every exit bank is trained inside the measured run.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from hadas import api
from hadas.config import load_config


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/tiny-digits.yaml")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    cfg = load_config(args.config)
    trained = api.train_supernet(cfg, api.default_supernet_dir(cfg), "cpu", resume=True,
                                 progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        supernet_dir = Path(tmp) / "supernet"
        supernet_dir.mkdir()
        shutil.copy(trained.checkpoint, supernet_dir / "supernet.pt")
        t0 = time.perf_counter()
        result, _ = api.search(cfg, Path(tmp) / "run", seed=args.seed, device="cpu",
                               progress=False, say=lambda line: None,
                               supernet_dir=supernet_dir)
        wall = time.perf_counter() - t0
    s = result.stats
    n_ioe = s.computed["ioe"]
    print(f"hadas search, {cfg.name}, seed {args.seed}: {wall:.1f} s wall, "
          f"{s.computed['backbone']} backbone evaluations, {n_ioe} IOEs (exit banks trained)")
    print(f"one IOE after exit training: {1e3 * s.seconds['inner_search'] / n_ioe:.1f} ms "
          f"(mean of {n_ioe}); one exit bank: {s.seconds['exit_training'] / n_ioe:.1f} s")
    print("| phase | seconds | share of wall time |\n|---|---|---|")
    for phase in ("backbone", "exit_training", "inner_search", "storage"):
        print(f"| {phase} | {s.seconds[phase]:.2f} | {100 * s.seconds[phase] / wall:.1f} % |")
    rest = wall - sum(s.seconds[p] for p in ("backbone", "ioe", "storage"))
    print(f"| other (set-up, selection, archive) | {rest:.2f} | {100 * rest / wall:.1f} % |")


if __name__ == "__main__":
    main()
