"""HADAS against its baselines on the same budget: final hypervolume per mode over several
seeds (mean and spread), and the energy gain at equal accuracy against `conventional`.

    .venv/bin/python bench/modes.py [--config configs/tiny-digits.yaml] [--seeds 0,1,2]

Runs go to runs/bench-modes/<mode>-seed<seed> (rerunning reuses them). All modes of a config
share one supernet and its exit banks; the hypervolume reference point is the same for all.
"""
from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from hadas import api
from hadas.config import load_config
from hadas.hardware import resolve_platform
from hadas.report.compare import energy_gain

MODES = ("hadas", "conventional", "exits-only", "dvfs-only", "static", "random")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/tiny-digits.yaml")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--root", default="runs/bench-modes")
    args = ap.parse_args()
    cfg = load_config(args.config)
    seeds = [int(s) for s in args.seeds.split(",")]
    hv: dict[str, list[float]] = {m: [] for m in MODES}
    archives: dict[tuple[str, int], list] = {}
    for seed in seeds:
        for mode in MODES:
            result, _ = api.search(cfg, Path(args.root) / f"{mode}-seed{seed}", mode=mode,
                                   seed=seed, device="cpu", progress=False,
                                   report=lambda line: None)
            hv[mode].append(result.hypervolume[-1])
            archives[mode, seed] = result.archive
            print(f"seed {seed} {mode:>12}: hypervolume {result.hypervolume[-1]:.4f}, "
                  f"{len(result.archive)} DyNNs", flush=True)
    platform = resolve_platform(cfg.search.platform)
    print(f"\n{cfg.name}, seeds {seeds}, platform {platform.name} ({platform.provenance('latency')}"
          f" latency, {platform.provenance('energy')} energy)\n")
    print("| mode | final hypervolume, mean | spread (min-max) | energy gain vs conventional "
          "at equal accuracy, max / mean % |\n|---|---|---|---|")
    for mode in MODES:
        gains = [energy_gain(archives[mode, s], archives["conventional", s]) for s in seeds]
        best = [g.max_pct for g in gains if g.max_pct is not None]
        mean = [g.mean_pct for g in gains if g.mean_pct is not None]
        gain = (f"{statistics.mean(best):.1f} / {statistics.mean(mean):.1f}" if best else "-")
        print(f"| {mode} | {statistics.mean(hv[mode]):.4f} | {min(hv[mode]):.4f}-"
              f"{max(hv[mode]):.4f} | {gain} |")


if __name__ == "__main__":
    main()
