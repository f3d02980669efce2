"""`hadas search`: the bi-level search (or the IOE alone) with live progress."""
from __future__ import annotations

import argparse

from hadas import api


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="bi-level HADAS search (default: the embedded tiny setup)")
    p.add_argument("--config", help="run configuration YAML (default: configs/tiny-digits.yaml)")
    p.add_argument("--run-dir", help="run directory (default: runs/<name>/<mode>-seed<seed>); "
                   "rerunning the same command resumes it")
    p.add_argument("--mode", default="hadas", choices=("hadas", "ioe"),
                   help="hadas: OOE + IOE; ioe: IOE only for --backbones")
    p.add_argument("--backbones", help="for --mode ioe: a0,a6 | min,max | arch JSON (';'-separated)")
    p.add_argument("--seed", type=int, help="overrides the config's seed")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_search)


def _search(args: argparse.Namespace) -> int:
    result, run_dir = api.search(args.config, args.run_dir, args.mode, args.backbones, args.seed,
                                 args.device, progress=not args.quiet)
    s = result.stats
    print(f"\nPareto front: {len(result.archive)} DyNNs (error %, latency and energy per "
          f"inference: expected values over the evaluation split)")
    print(f"{'top-1':>7} {'lat ms':>8} {'mJ':>8}  {'res':>4} {'blocks':>6}  exits @ threshold"
          f"  {'cpu/gpu/emc MHz':>18}  provenance")
    rows = sorted(result.archive, key=lambda e: -e["dynn"]["top1"])
    for e in rows:
        b, d = e["backbone"], e["dynn"]
        mhz = "/".join(f"{d['dvfs_hz'][k] / 1e6:.0f}" for k in ("cpu", "gpu", "emc")
                       if k in d["dvfs_hz"])
        print(f"{d['top1']:7.2f} {d['latency_ms']:8.3f} {d['energy_mj']:8.3f}  "
              f"{b['resolution']:>4} {sum(b['depth']):>6}  {d['exits']['positions']} @ "
              f"{d['exits']['threshold']}  {mhz:>18}  {d['provenance'].get('energy_mj', '?')}")
    print(f"\nhypervolume per generation: {[round(h, 4) for h in result.hypervolume]}")
    print(f"evaluations computed {s.computed}, reused from the run database {s.cached}")
    print(f"results: {run_dir / 'result.json'} and {run_dir / 'result.csv'}")
    return 0
