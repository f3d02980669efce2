"""Calibration on the shared Jetson LUTs over many seeded 50/50 splits, beside trivial rankers.

The shipped calibrated boards use seed 0; this shows how much the held-out figures depend on
the split. Per board and quantity: mean and range over seeds of held-out MAPE and Kendall tau
for the calibrated model, the kernel-count and the MAC ranker, and on how many splits the model
ranks better than the better trivial ranker. Kendall's tau-b leaves tied pairs out, which
favours a predictor with many ties (the kernel count) when the order inside a tie is noise; the
kernel count with its ties broken at random shows by how much.

    .venv/bin/python bench/calibration_luts.py [--seeds 20]
"""
from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np

from hadas.hardware import HardwareModel, get_platform
from hadas.hardware.calibration import calibrate, profile_rows, split_samples
from hadas.hardware.fit_metrics import kendall_tau
from hadas.hardware.lut_import import import_luts

LUTS = Path(__file__).resolve().parents[1] / "data" / "jetson-layer-luts"
BOARDS = {"agx-xavier": "agx", "tx2": "tx2"}
PREDICTORS = ("model", "kernel_count", "macs")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    args = ap.parse_args()
    print("| board | quantity | predictor | held-out MAPE, mean (min-max) | Kendall tau, mean "
          "(min-max) |\n|---|---|---|---|---|")
    for board, suffix in BOARDS.items():
        platform = get_platform(board)
        profile = import_luts(sorted(LUTS.glob(f"ofa_*_{suffix}.json")), platform)
        reports = [calibrate(platform, profile, None, 0.5, seed).report
                   for seed in range(args.seeds)]
        rows = profile_rows(HardwareModel(platform, 1), profile, None)
        broken = []
        for seed in range(args.seeds):
            test = rows.subset(split_samples(len(profile.samples), 0.5, seed)[1])
            jitter = np.random.default_rng(seed).uniform(0.0, 0.5, (20, test.kernels.size))
            broken.append(float(np.mean([kendall_tau(test.latency_ms, test.kernels + j)
                                         for j in jitter])))
        print(f"| {board} | latency | kernel count, ties broken at random | | "
              f"{statistics.mean(broken):.3f} ({min(broken):.3f}-{max(broken):.3f}) |")
        for quantity in ("latency", "energy"):
            tests = [r[quantity]["test"] for r in reports]
            for name in PREDICTORS:
                mape = [t[name]["mape"] for t in tests]
                tau = [t[name]["kendall_tau"] for t in tests]
                print(f"| {board} | {quantity} | {name} | {statistics.mean(mape):.1f} % "
                      f"({min(mape):.1f}-{max(mape):.1f}) | {statistics.mean(tau):.3f} "
                      f"({min(tau):.3f}-{max(tau):.3f}) |")
            wins = sum(t["model"]["kendall_tau"] > max(t["kernel_count"]["kendall_tau"],
                                                       t["macs"]["kendall_tau"]) for t in tests)
            print(f"| {board} | {quantity} | model ranks above both trivial rankers | {wins} "
                  f"of {len(tests)} splits | |")


if __name__ == "__main__":
    main()
