"""HADAS against its baselines on the same budget, over several seeds, with statistics:
the final hypervolume's mean and 95 % bootstrap interval per mode, each baseline paired with
`hadas` seed by seed (wins/losses, Wilcoxon signed-rank p), the energy gain at equal accuracy
against `conventional` with its interval, and what each mode cost (evaluations, seconds).

    .venv/bin/python bench/modes.py [--config configs/tiny-digits.yaml] [--seeds 0-7]

Runs go to runs/bench-modes/<mode>-seed<seed> (rerunning reuses them). All modes of a config
share one supernet and its exit banks; the hypervolume reference point is the same for all.
`hadas-evolve` is `hadas` with HADAS's evolved clock genes (search.ioe.dvfs: evolve and the
paper's inner budget), the method as published.

Cost: a run's `progress` holds, per generation, its distinct evaluations and the compute
seconds first measured for them. Exit banks are shared between runs, so only the first run to
need a bank pays for its training; the cost curves therefore charge every IOE the median
training time of the banks in the exits folder (their meta.json), plus the measured backbone
and inner-search seconds. The figure goes to <root>/cost_quality.svg.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from pathlib import Path

from hadas import api
from hadas.config import HadasConfig, IoeConfig, load_config
from hadas.hardware import resolve_platform
from hadas.report.compare import compare_groups
from hadas.report.statistics import bootstrap_mean

MODES = ("hadas", "conventional", "exits-only", "dvfs-only", "static", "random", "hadas-evolve")
PAPER_IOE = IoeConfig(population=10, generations=5, survival_ratio=0.25, n_crossover=5,
                      n_mutation=5, dvfs="evolve")


def seeds_of(text: str) -> list[int]:
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


def config_of(cfg: HadasConfig, mode: str) -> tuple[HadasConfig, str]:
    if mode == "hadas-evolve":
        return dataclasses.replace(cfg, search=dataclasses.replace(cfg.search, ioe=PAPER_IOE)), \
            "hadas"
    return cfg, mode


def bank_seconds(exits_dir: Path) -> float:
    """Median training time of the exit banks in `exits_dir` (measured, from their meta)."""
    times = [json.loads(m.read_text()).get("train_seconds") for m in exits_dir.glob("*/meta.json")]
    times = [t for t in times if t is not None]
    return statistics.median(times) if times else 0.0


def cost_curves(results: dict, t_bank: float, out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for colour, mode in zip(colours, MODES):
        for i, (seed, r) in enumerate(sorted((s, r) for (m, s), r in results.items() if m == mode)):
            p = r["progress"]
            hv = [g["hypervolume"] for g in p]
            seconds = [g["backbone_s"] + g["inner_search_s"] + g["ioes"] * t_bank for g in p]
            evaluations = [g["backbones"] + g["dynns"] for g in p]
            for ax, x in zip(axes, (seconds, evaluations)):
                ax.plot(x, hv, "o-", color=colour, alpha=0.6, lw=1, ms=3,
                        label=mode if i == 0 else None)
    axes[0].set_xlabel(f"compute seconds (each IOE charged {t_bank:.1f} s of exit training)")
    axes[1].set_xlabel("evaluations (backbones + DyNNs scored)")
    axes[1].set_xscale("log")
    axes[0].set_ylabel("archive hypervolume")
    axes[0].legend(fontsize=8)
    fig.suptitle("what each mode buys per second and per evaluation (one line per seed)")
    fig.tight_layout()
    fig.savefig(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/tiny-digits.yaml")
    ap.add_argument("--seeds", default="0-7", help="e.g. 0-7 or 0,1,2")
    ap.add_argument("--root", default="runs/bench-modes")
    args = ap.parse_args()
    cfg = load_config(args.config)
    seeds = seeds_of(args.seeds)
    results: dict[tuple[str, int], dict] = {}
    for seed in seeds:
        for mode in MODES:
            mode_cfg, engine = config_of(cfg, mode)
            _, run_dir = api.search(mode_cfg, Path(args.root) / f"{mode}-seed{seed}",
                                    mode=engine, seed=seed, device="cpu", progress=False,
                                    say=lambda line: None)
            r = api.load_result(run_dir)
            r["mode"] = mode
            results[mode, seed] = r
            print(f"seed {seed} {mode:>12}: hypervolume {r['hypervolume'][-1]:.4f}, "
                  f"{len(r['archive'])} DyNNs", flush=True)
    platform = resolve_platform(cfg.search.platform)
    by_mode = {m: [results[m, s] for s in seeds] for m in MODES}
    t_bank = bank_seconds(api.default_supernet_dir(cfg) / "exits")
    print(f"\n{cfg.name}, {len(seeds)} seeds {seeds}, platform {platform.name} "
          f"({platform.provenance('latency')} latency, {platform.provenance('energy')} energy); "
          f"intervals: 95 % percentile bootstrap of the mean over seeds; p: Wilcoxon "
          f"signed-rank, two-sided, paired by seed\n")
    print("| mode | final hypervolume, mean [95 % CI] | paired vs hadas: hadas wins/losses, p |"
          " energy gain vs conventional at equal accuracy, mean % [95 % CI] | best % [95 % CI]"
          " | evaluations (backbones + DyNNs) | compute s (exit banks charged) |"
          "\n|---|---|---|---|---|---|---|")
    for mode in MODES:
        runs = by_mode[mode]
        hv = bootstrap_mean([r["hypervolume"][-1] for r in runs])
        if mode == "hadas":
            vs = "-"
        else:
            p = compare_groups(by_mode["hadas"], runs).paired
            vs = f"{p.wins}/{p.losses}, p = {p.p_value:.3g}"
        gain = compare_groups(runs, by_mode["conventional"])
        mean = gain.gain_mean_pct.format(1) if gain.gain_mean_pct else "-"
        best = gain.gain_max_pct.format(1) if gain.gain_max_pct else "-"
        last = [r["progress"][-1] for r in runs]
        evaluations = statistics.mean(g["backbones"] + g["dynns"] for g in last)
        seconds = statistics.mean(g["backbone_s"] + g["inner_search_s"] + g["ioes"] * t_bank
                                  for g in last)
        print(f"| {mode} | {hv} | {vs} | {mean} | {best} | {evaluations:.0f} | {seconds:.0f} |")
    out = Path(args.root) / "cost_quality.svg"
    cost_curves(results, t_bank, out)
    print(f"\ncost curves: {out} (median exit bank {t_bank:.1f} s)")


if __name__ == "__main__":
    main()
