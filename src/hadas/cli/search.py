"""`hadas search` (the bi-level search or a baseline, with live progress) and `hadas runs`."""
from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from hadas import api


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="bi-level HADAS search (default: the embedded tiny setup)")
    p.add_argument("--config", help="run configuration YAML (default: configs/tiny-digits.yaml)")
    p.add_argument("--run-dir", help="run directory (default: runs/<name>/<mode>-seed<seed>); "
                   "rerunning the same command resumes it")
    p.add_argument("--mode", default="hadas", choices=api.SEARCH_MODES,
                   help=api.MODE_HELP)
    p.add_argument("--backbones", help="for --mode ioe: a0,a6 | min,max | arch JSON (';'-separated)")
    p.add_argument("--seed", type=int, help="overrides the config's seed")
    p.add_argument("--supernet", help="a trained supernet checkpoint (ours, or a published "
                   "AttentiveNAS/HADAS .pth.tar) instead of training the config's own")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--hardware", choices=api.HARDWARE,
                   help="overrides search.hardware: model (the platform's model), measured "
                   "(this machine), remote (search.agent_url)")
    p.add_argument("--executor", default="serial", choices=api.EXECUTOR_NAMES,
                   help="where evaluations run (same seed, same result on each)")
    p.add_argument("--address", help="Ray cluster address (default: start a local one)")
    p.add_argument("--workers", type=int, help="worker processes or Ray actors")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_search)

    p = sub.add_parser("runs", help="finished search runs: list, show, compare")
    runs = p.add_subparsers(dest="runs_command", required=True)
    q = runs.add_parser("list", help="every run under a folder")
    q.add_argument("--root", default="runs")
    q.set_defaults(func=_list)
    q = runs.add_parser("show", help="the Pareto front of a run")
    q.add_argument("run_dir")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=_show)
    q = runs.add_parser("compare", help="hypervolume and energy gain at equal accuracy; "
                        "several runs per side are paired by seed")
    q.add_argument("run_dir", nargs="+")
    q.add_argument("--baseline", required=True, nargs="+",
                   help="run directories of the baseline (the same seeds)")
    q.set_defaults(func=_compare)


def print_front(archive: Sequence[api.ArchiveEntry]) -> None:
    """The archive, most accurate first; ID is the index for `hadas export --pick`."""
    print(f"{'ID':>3} {'top-1':>7} {'lat ms':>8} {'mJ':>8}  {'res':>4} {'blocks':>6}  "
          f"exits @ threshold  {'cpu/gpu/emc MHz':>18}  provenance")
    for i, e in sorted(enumerate(archive), key=lambda ie: -ie[1].dynn.top1):
        d, exits = e.dynn, e.dynn.plan.to_dict()
        mhz = "/".join(f"{d.dvfs_hz[k] / 1e6:.0f}" for k in ("cpu", "gpu", "emc")
                       if k in d.dvfs_hz)
        print(f"{i:>3} {d.top1:7.2f} {d.latency_ms:8.3f} {d.energy_mj:8.3f}  "
              f"{e.backbone.resolution:>4} {e.backbone.n_blocks:>6}  {exits['positions']} @ "
              f"{exits['threshold']}  {mhz:>18}  {d.provenance.get('energy_mj', '?')}")


def _search(args: argparse.Namespace) -> int:
    result, run_dir = api.search(args.config, args.run_dir, args.mode, args.backbones, args.seed,
                                 args.device, progress=not args.quiet, executor=args.executor,
                                 address=args.address, workers=args.workers,
                                 supernet=args.supernet, hardware=args.hardware)
    s = result.stats
    print(f"\nPareto front: {len(result.archive)} DyNNs (error %, latency and energy per "
          f"inference: expected values over the evaluation split)")
    print_front(result.archive)
    print(f"\nhypervolume per generation: {[round(h, 4) for h in result.hypervolume]}")
    print(f"evaluations computed {s.computed}, reused from the run database {s.cached}")
    print(f"results: {run_dir / 'result.json'} and {run_dir / 'result.csv'}")
    print(f"report: {run_dir / 'report' / 'index.html'}")
    return 0


def _list(args: argparse.Namespace) -> int:
    found = api.list_runs(args.root)
    if not found:
        print(f"no finished runs under {args.root}")
    for path, r in found:
        print(f"{str(path):50} {r['mode']:>12} seed {r['seed']:<3} {len(r['archive']):>3} DyNNs "
              f"hypervolume {r['hypervolume'][-1]:.4f}  {r['seconds']:.0f} s")
    return 0


def _show(args: argparse.Namespace) -> int:
    r = api.load_result(args.run_dir)
    if args.json:
        print(json.dumps(r))
        return 0
    print(f"{r['name']} / {r['mode']} / seed {r['seed']} on {r['platform']}: "
          f"{len(r['archive'])} DyNNs, hypervolume {r['hypervolume'][-1]:.4f}")
    print_front(api.entries(r["archive"]))
    return 0


def _compare(args: argparse.Namespace) -> int:
    if len(args.run_dir) == len(args.baseline) == 1:
        ours, base, gain = api.compare_runs(args.run_dir[0], args.baseline[0])
        print(f"hypervolume: {ours['mode']} {ours['hypervolume'][-1]:.4f} vs "
              f"{base['mode']} {base['hypervolume'][-1]:.4f} (same reference point: "
              f"{ours['reference_point'] == base['reference_point']})")
        if gain.max_pct is None:
            print("energy gain at equal accuracy: no baseline DyNN is matched in accuracy")
        else:
            print(f"energy gain at equal accuracy: up to {gain.max_pct:.1f} %, mean "
                  f"{gain.mean_pct:.1f} % over {gain.matched} baseline DyNNs "
                  f"({gain.unmatched} not matched in accuracy)")
        return 0
    for line in comparison_lines(api.compare_run_groups(args.run_dir, args.baseline)):
        print(line)
    return 0


def comparison_lines(c: Any) -> list[str]:
    """`c`: an `api.compare_run_groups` result."""
    p = c.paired
    lines = [f"seeds {c.seeds} (same reference point: {c.same_reference})",
             f"final hypervolume, mean [95 % bootstrap interval]: {c.mode} {c.hypervolume}, "
             f"{c.baseline} {c.baseline_hypervolume}",
             f"paired per seed: {c.mode} wins {p.wins}, loses {p.losses}, ties {p.ties}; "
             f"mean difference {p.mean_difference:+.4f}; Wilcoxon signed-rank p = "
             f"{p.p_value:.3g} (two-sided)"]
    if c.gain_mean_pct is None:
        lines.append("energy gain at equal accuracy: no baseline DyNN is matched in accuracy")
    else:
        lines.append(f"energy gain at equal accuracy (%, per-seed mean, then over "
                     f"{c.gain_seeds} seeds): {c.gain_mean_pct.format(1)}; best per seed "
                     f"{c.gain_max_pct.format(1)}")
    return lines
