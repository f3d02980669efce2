"""Early exits: exit-training time and per-exit accuracy of one backbone, and how many exit
plans per second the simulator scores against real early-exit inference, side by side.

    .venv/bin/python bench/exits.py --checkpoint runs/demo/supernet/supernet.pt [--arch max]

(`make demo` leaves that checkpoint.) The 10,000-sample x 17-exit figure uses a synthetic
exit cache of that size; the side-by-side comparison uses the real bank on the digits test split.
"""
from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from hadas.config import load_config
from hadas.data import TensorLoader, load_data
from hadas.exits import ExitCache, ExitSimulator, file_checksum, prepare_exits
from hadas.model import load_supernet
from hadas.space import ExitPlan, resolve_arch


def random_plans(positions: tuple[int, ...], n: int, rng: np.random.Generator) -> list[ExitPlan]:
    plans = []
    for _ in range(n):
        k = int(rng.integers(1, min(8, len(positions)) + 1))
        chosen = tuple(int(p) for p in rng.choice(positions, size=k, replace=False))
        plans.append(ExitPlan(chosen, threshold=float(rng.choice([0.5, 0.6, 0.7, 0.8, 0.9]))))
    return plans


def plans_per_second(score, plans: list[ExitPlan], min_seconds: float = 1.0) -> float:
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < min_seconds:
        for p in plans:
            score(p)
        done += len(plans)
    return done / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/tiny-digits.yaml")
    ap.add_argument("--checkpoint", default="runs/demo/supernet/supernet.pt")
    ap.add_argument("--arch", default="max")
    args = ap.parse_args()
    torch.set_num_threads(1)  # the requirement is stated for one CPU core
    rng = np.random.default_rng(0)

    n, k = 10_000, 17
    labels = rng.integers(0, 100, n)
    pred = rng.integers(0, 100, (k + 1, n))
    synthetic = ExitCache(tuple(range(5, 5 + k)), labels, pred.astype(np.int16), pred == labels,
                          rng.random((k + 1, n), dtype=np.float32),
                          rng.random((k + 1, n), dtype=np.float32), None)
    sim = ExitSimulator(synthetic)
    rate = plans_per_second(sim.simulate, random_plans(synthetic.positions, 500, rng))
    print(f"simulator, synthetic cache {n} samples x {k} candidate exits, 1 thread: "
          f"{rate:,.0f} plans/s (required >= 5,000)")

    cfg = load_config(args.config)
    device = torch.device("cpu")
    supernet = load_supernet(cfg, args.checkpoint, device)
    backbone = resolve_arch(supernet.space, args.arch)
    data = load_data(cfg.data)
    with tempfile.TemporaryDirectory() as root:
        t0 = time.perf_counter()
        art = prepare_exits(cfg, supernet, file_checksum(args.checkpoint), backbone, data, root,
                            device, progress=False)
        seconds = time.perf_counter() - t0
    acc = art.cache.accuracy()
    print(f"\nexit bank of {args.arch}: {len(art.positions)} candidate exits, {cfg.exits.epochs} "
          f"epochs, trained + cached in {seconds:.1f} s (1 thread)")
    print("| exit | top-1 (%) |\n|---|---|")
    for p, a in zip(art.positions, acc):
        print(f"| after block {p} | {a:.2f} |")
    print(f"| final classifier | {acc[-1]:.2f} |")

    split = data.split(cfg.data.eval_split)
    x = torch.cat([b for b, _ in TensorLoader(split, 512, mean=data.mean, std=data.std)])
    plans = random_plans(art.positions, 40, rng)
    sim = ExitSimulator(art.cache)
    fast = plans_per_second(sim.simulate, plans)
    real = plans_per_second(lambda p: art.network.early_exit(x, p), plans[:10], min_seconds=2.0)
    print(f"\nsame split ({len(split)} {cfg.data.eval_split} images), 1 thread: simulator "
          f"{fast:,.0f} plans/s, real early-exit inference {real:,.2f} plans/s "
          f"-> {fast / real:,.0f}x")


if __name__ == "__main__":
    main()
