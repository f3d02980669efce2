"""Shared exit heads (one bank for the whole supernet) against per-backbone heads (HADAS).

1. Per-exit top-1 on the evaluation split, over the smallest, the largest and `--backbones`
   seeded random backbones: per-backbone heads; shared heads (uniform sampling) trained for
   the config's `exits.epochs` and for `--shared-epochs`, inherited as they are and after a
   1- and 3-epoch fine-tune; shared heads trained with the sandwich rule. Gaps (per-backbone
   minus shared, points) per exit position: mean and worst. Times: the backbones' own work
   and the shared bank's training, once.
2. `hadas search` on the embedded default with per-backbone heads and with a shared bank of
   `--shared-epochs` epochs, every exit bank trained inside the measured run (fresh exits
   folder), over the same seeds as the modes table: wall time, time spent training exits,
   and the final hypervolume (mean, 95 % bootstrap interval, paired differences). Also the
   shared search again with its bank stored (the bank belongs to the supernet: a later search
   of any seed or mode finds it), everything else trained inside the run.

    .venv/bin/python bench/shared_exits.py [--config configs/tiny-digits.yaml] [--seeds 0-7]
        [--backbones 10] [--shared-epochs 20] [--skip-search]

The supernet is trained once (or reused) under runs/<name>/supernet. Accuracies are measured
(real inference of the evaluation split); times are wall-clock seconds on this machine, the
two trainings side by side in one run, seed by seed.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from hadas import api
from hadas.config import HadasConfig, load_config
from hadas.data import load_data
from hadas.exits import file_checksum, prepare_exits
from hadas.exits.shared import shared_bank_key
from hadas.model import load_supernet
from hadas.report.statistics import bootstrap_mean
from hadas.space import Backbone
from hadas.training.inheritance import Inheritance

sys.path.insert(0, str(Path(__file__).parent))
from modes import seeds_of  # noqa: E402

def variants(cfg: HadasConfig, shared_epochs: int) -> dict[str, dict[str, object]]:
    """name: exits overrides. In `shared` training, `exits.epochs` is the shared bank's."""
    e, n = shared_epochs, cfg.exits.epochs
    return {"per-backbone": {},
            f"shared {n} ep": {"training": "shared"},
            f"shared {e} ep": {"training": "shared", "epochs": e},
            f"shared {e} ep + ft1": {"training": "shared", "epochs": e, "finetune_epochs": 1},
            f"shared {e} ep + ft3": {"training": "shared", "epochs": e, "finetune_epochs": 3},
            f"shared sandwich {n} ep": {"training": "shared", "shared_sampling": "sandwich"}}


def with_exits(cfg: HadasConfig, **overrides: object) -> HadasConfig:
    return dataclasses.replace(cfg, exits=dataclasses.replace(cfg.exits, **overrides))


def accuracy_table(cfg: HadasConfig, checkpoint: Path, n_random: int, root: Path,
                   shared_epochs: int) -> None:
    device = torch.device("cpu")
    supernet = load_supernet(cfg, str(checkpoint), device)
    supernet_id = file_checksum(checkpoint)
    data = load_data(cfg.data)
    inherited = Inheritance(supernet, data, cfg.evaluation, device, cfg.seed)
    rng = np.random.default_rng(0)
    space = supernet.space
    backbones: list[Backbone] = [space.smallest(), space.largest()]
    while len(backbones) < n_random + 2:
        b = space.sample(rng)
        if b not in backbones:
            backbones.append(b)
    table = variants(cfg, shared_epochs)
    acc: dict[str, dict[int, list[float]]] = {v: {} for v in table}
    seconds: dict[str, float] = {}
    bank_seconds: dict[str, float] = {}  # the shared bank each variant trained or reused
    trained_banks: set[Path] = set()
    for name, overrides in table.items():
        vcfg = with_exits(cfg, **overrides)
        t0 = time.perf_counter()
        for b in backbones:
            art = prepare_exits(vcfg, supernet, supernet_id, b, data, root, device,
                                progress=False, inherited=inherited)
            for p, a in zip(art.positions, art.cache.accuracy()):
                acc[name].setdefault(p, []).append(float(a))
        wall = time.perf_counter() - t0
        if vcfg.exits.training == "shared":
            meta = root / f"shared-{shared_bank_key(vcfg, supernet_id)}" / "bank.json"
            bank_seconds[name] = json.loads(meta.read_text())["train_seconds"]
            if meta not in trained_banks:  # trained by this variant: its time is in `wall`
                trained_banks.add(meta)
                wall -= bank_seconds[name]
        seconds[name] = wall
        print(f"{name}: {wall:.1f} s for {len(backbones)} backbones (their exit heads, BN "
              f"and exit caches), shared bank {bank_seconds.get(name, 0.0):.1f} s", flush=True)
    base = acc["per-backbone"]
    print(f"\nper-exit top-1 (%), {cfg.name}, {len(backbones)} backbones (smallest, largest, "
          f"{n_random} random, seed 0), {cfg.data.eval_split} split; gap = per-backbone minus "
          "variant, points (positive: the variant is worse)\n")
    names = [v for v in table if v != "per-backbone"]
    print("| exit after block | backbones | per-backbone mean | "
          + " | ".join(f"{v} mean gap / worst" for v in names) + " |")
    print("|---" * (3 + len(names)) + "|")
    for p in sorted(base):
        cells = []
        for v in names:
            gaps = np.array(base[p]) - np.array(acc[v][p])
            cells.append(f"{gaps.mean():+.1f} / {gaps.max():+.1f}")
        print(f"| {p} | {len(base[p])} | {np.mean(base[p]):.1f} | " + " | ".join(cells) + " |")
    cells = []
    for v in names:
        gaps = np.concatenate([np.array(base[p]) - np.array(acc[v][p]) for p in base])
        cells.append(f"{gaps.mean():+.1f} / {gaps.max():+.1f}")
    print("| all exits | | {:.1f} | ".format(np.mean(np.concatenate(list(base.values()))))
          + " | ".join(cells) + " |")
    print(f"\n| variant | exit heads of {len(backbones)} backbones (their training, BN and "
          "exit caches), s | shared bank, trained once, s | per backbone, s |\n|---|---|---|---|")
    for v in table:
        print(f"| {v} | {seconds[v]:.1f} | {bank_seconds.get(v, 0.0):.1f} | "
              f"{seconds[v] / len(backbones):.2f} |")


def one_search(cfg: HadasConfig, checkpoint: Path, seed: int, keep_bank: Path | None = None,
               stored_bank: Path | None = None) -> dict[str, float]:
    """A search in a fresh folder (every exit bank trained inside it), except `stored_bank`,
    a shared bank folder copied in first; `keep_bank`: the folder to copy the run's shared
    bank into."""
    with tempfile.TemporaryDirectory() as tmp:
        supernet_dir = Path(tmp) / "supernet"
        supernet_dir.mkdir()
        shutil.copy(checkpoint, supernet_dir / "supernet.pt")
        if stored_bank is not None:
            shutil.copytree(stored_bank, supernet_dir / "exits" / stored_bank.name)
        t0 = time.perf_counter()
        result, _ = api.search(cfg, Path(tmp) / "run", seed=seed, device="cpu", progress=False,
                               say=lambda line: None, supernet_dir=supernet_dir)
        wall = time.perf_counter() - t0
        if keep_bank is not None:  # the bank folder, its name (shared-<key>) kept
            bank = next((supernet_dir / "exits").glob("shared-*"))
            shutil.rmtree(keep_bank / bank.name, ignore_errors=True)
            shutil.copytree(bank, keep_bank / bank.name)
    return {"wall": wall, "exits": result.stats.seconds["exit_training"],
            "hv": result.hypervolume[-1], "ioes": result.stats.computed["ioe"]}


def search_table(cfg: HadasConfig, checkpoint: Path, seeds: list[int],
                 shared_epochs: int) -> None:
    shared = f"shared {shared_epochs} ep"
    stored = f"{shared}, bank stored"
    shared_cfg = with_exits(cfg, **variants(cfg, shared_epochs)[shared])
    rows: dict[str, list[dict[str, float]]] = {v: [] for v in ("per-backbone", shared, stored)}
    with tempfile.TemporaryDirectory() as keep:
        for seed in seeds:
            rows["per-backbone"].append(one_search(cfg, checkpoint, seed))
            rows[shared].append(one_search(shared_cfg, checkpoint, seed, keep_bank=Path(keep)))
            # a later search on the same supernet (another seed or mode) finds the bank stored
            bank = next(Path(keep).glob("shared-*"))
            rows[stored].append(one_search(shared_cfg, checkpoint, seed, stored_bank=bank))
            for v in rows:
                row = rows[v][-1]
                print(f"seed {seed} {v:>12}: {row['wall']:.1f} s wall, {row['exits']:.1f} s "
                      f"exit training ({row['ioes']} IOEs), hypervolume {row['hv']:.4f}",
                      flush=True)
    print(f"\n`hadas search`, {cfg.name}, seeds {seeds}, every exit bank trained inside the "
          f"run (\"bank stored\": but the shared bank, as a later search on the same supernet "
          "finds it); intervals: 95 % percentile bootstrap of the mean over seeds\n")
    print("| exit heads | wall s, mean | exit training s, mean | final hypervolume, mean "
          "[95 % CI] | hypervolume, min-max over seeds |\n|---|---|---|---|---|")
    for v, r in rows.items():
        hv = [x["hv"] for x in r]
        print(f"| {v} | {statistics.mean(x['wall'] for x in r):.1f} | "
              f"{statistics.mean(x['exits'] for x in r):.1f} | {bootstrap_mean(hv)} | "
              f"{min(hv):.4f}-{max(hv):.4f} |")
    base = rows["per-backbone"]
    for v in (shared, stored):
        speed = [a["wall"] / b["wall"] for a, b in zip(base, rows[v])]
        diff = [b["hv"] - a["hv"] for a, b in zip(base, rows[v])]
        print(f"\n{v}: wall-time ratio per-backbone / {v}, seed by seed: mean "
              f"{statistics.mean(speed):.2f}x (min {min(speed):.2f}x, max {max(speed):.2f}x); "
              f"hypervolume minus per-backbone, mean [95 % CI]: {bootstrap_mean(diff)}, higher "
              f"on {sum(d > 0 for d in diff)} of {len(diff)} seeds")
    print(f"per-backbone seed spread (sd): {statistics.pstdev(x['hv'] for x in base):.4f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/tiny-digits.yaml")
    ap.add_argument("--seeds", default="0-7", help="e.g. 0-7 or 0,1,2")
    ap.add_argument("--backbones", type=int, default=10, help="random ones, besides min and max")
    ap.add_argument("--shared-epochs", type=int, default=20,
                    help="epochs of the shared bank compared in the search")
    ap.add_argument("--skip-search", action="store_true")
    args = ap.parse_args()
    cfg = load_config(args.config)
    trained = api.train_supernet(cfg, api.default_supernet_dir(cfg), "cpu", resume=True,
                                 progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        accuracy_table(cfg, Path(trained.checkpoint), args.backbones, Path(tmp) / "exits",
                       args.shared_epochs)
    if not args.skip_search:
        search_table(cfg, Path(trained.checkpoint), seeds_of(args.seeds), args.shared_epochs)


if __name__ == "__main__":
    main()
