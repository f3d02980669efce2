"""Which inner budget buys the most: the IOE of real backbones of the embedded default (their
exit banks trained once, then reused) under HADAS's evolved clock genes and under exact DVFS
with growing budgets, side by side in one run. Prints, per setting, the mean IOE time, the
mean hypervolume of the IOE front (objectives over the search's reference point) and the
hypervolume gained per second against HADAS's `evolve` 10 x 5. The default is the cheapest
setting whose mean hypervolume is within 0.0005 of the best one (where the fronts saturate).

    .venv/bin/python bench/ioe_budget.py [--config configs/tiny-digits.yaml] [--backbones 10]

Backbones: the space's smallest and largest and random ones (seeded); the supernet and exit
banks are the ones under runs/<name>/supernet (trained on first use).
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from hadas import api
from hadas.config import IoeConfig, load_config
from hadas.evaluation.pipeline import build_evaluators
from hadas.search.ioe import run_ioe
from hadas.search.pymoo_seam import hypervolume
from hadas.space import BackboneSpace


def budget(population: int, generations: int, **kw) -> IoeConfig:
    return IoeConfig(population=population, generations=generations, survival_ratio=0.25,
                     n_crossover=population // 2, n_mutation=population // 2, **kw)


SETTINGS = {
    "evolve 10x5 (HADAS)": budget(10, 5, dvfs="evolve"),
    "evolve 20x20": budget(20, 20, dvfs="evolve"),
    "evolve 40x20": budget(40, 20, dvfs="evolve"),
    "exact 10x5": budget(10, 5, enumerate_max=0),
    "exact 10x10": budget(10, 10, enumerate_max=0),
    "exact 20x5": budget(20, 5, enumerate_max=0),
    "exact 20x10": budget(20, 10, enumerate_max=0),
    "exact 40x10": budget(40, 10, enumerate_max=0),
    "exact 40x20": budget(40, 20, enumerate_max=0),
    "exact 20x10, enumerate <= 256 (default)": budget(20, 10, enumerate_max=256),
    "exact 40x10, enumerate <= 1024": budget(40, 10, enumerate_max=1024),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/tiny-digits.yaml")
    ap.add_argument("--backbones", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3, help="timing repeats (median)")
    args = ap.parse_args()
    cfg = load_config(args.config)
    supernet_dir = api.default_supernet_dir(cfg)
    trained = api.train_supernet(cfg, supernet_dir, "cpu", resume=True, progress=False)
    ev = build_evaluators(cfg, str(trained.checkpoint), cfg.search.platform,
                          str(supernet_dir / "exits"), device="cpu")
    space = BackboneSpace(cfg.supernet)
    rng = np.random.default_rng(0)
    backbones = [space.smallest(), space.largest(),
                 *(space.sample(rng) for _ in range(args.backbones - 2))]
    reference = ev.reference_point()
    problems = [ev.ioe_problem(b) for b in backbones]  # trains missing exit banks
    rows = {}
    for name, ioe in SETTINGS.items():
        hv, seconds, plans = [], [], []
        for b, (inner, evaluator) in zip(backbones, problems):
            inner = inner.replace(dvfs_genes=ioe.dvfs == "evolve")
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                result = run_ioe(inner, evaluator, ioe, np.random.default_rng([cfg.seed, 7]))
                times.append(time.perf_counter() - t0)
            F = np.array([d.objectives for d in result.front]).reshape(-1, 3)
            hv.append(hypervolume(F / reference, np.ones(3)))
            seconds.append(statistics.median(times))
            plans.append(result.plans)
        rows[name] = (statistics.mean(hv), statistics.mean(seconds), statistics.mean(plans))
        print(f"{name}: hypervolume {rows[name][0]:.4f}, {1e3 * rows[name][1]:.0f} ms, "
              f"{rows[name][2]:.0f} plans", flush=True)
    base_hv, base_s, _ = rows["evolve 10x5 (HADAS)"]
    print(f"\n{cfg.name}, {len(backbones)} backbones (exit candidates "
          f"{min(len(p[0].positions) for p in problems)}-"
          f"{max(len(p[0].positions) for p in problems)}), platform {cfg.search.platform}\n")
    print("| IOE setting | mean IOE front hypervolume | mean IOE time | genomes scored | "
          "hypervolume gained per extra second vs evolve 10x5 |\n|---|---|---|---|---|")
    for name, (hv, s, n) in rows.items():
        rate = "-" if s <= base_s else f"{(hv - base_hv) / (s - base_s):.4f} /s"
        print(f"| {name} | {hv:.4f} | {1e3 * s:.0f} ms | {n:.0f} | {rate} |")


if __name__ == "__main__":
    main()
