"""Commands on hardware models: `hadas platforms list|show`, `hadas hw estimate|import-lut|
calibrate|check`."""
from __future__ import annotations

import argparse
import json

from hadas import api
from hadas.cli.common import ARCH_HELP, add_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("platforms", help="the registered hardware platforms")
    psub = p.add_subparsers(dest="platforms_command", required=True)
    q = psub.add_parser("list", help="names, descriptions, default modes, DVFS table sizes")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=_list)
    q = psub.add_parser("show", help="everything a platform holds (tables in Hz, coefficients)")
    q.add_argument("name", help="a registered name or a platform YAML path")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=_show)

    p = sub.add_parser("hw", help="analytical latency/energy model: estimate, import-lut, "
                       "calibrate, check")
    hsub = p.add_subparsers(dest="hw_command", required=True)
    q = hsub.add_parser("estimate", help="per-segment and total latency/energy of a DyNN")
    add_config(q, device=False)
    q.add_argument("--platform", help="registered name or calibrated YAML (default: "
                   "agx-xavier-calibrated)")
    q.add_argument("--arch", required=True, help=ARCH_HELP)
    q.add_argument("--exits", help="exit positions (block indices), e.g. 5,9")
    q.add_argument("--exit-channels", type=int, help="exit head width (default: the config's)")
    q.add_argument("--dvfs", help="cpu=HZ,gpu=HZ,emc=HZ (any subset; default: max clocks)")
    q.add_argument("--mode", help="power mode (default: the platform's default mode)")
    q.add_argument("--precision", choices=("fp32", "fp16"), default="fp32")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=_estimate)
    q = hsub.add_parser("calibrate", help="fit a platform's coefficients to a measured profile")
    q.add_argument("--platform", required=True, help="registered name or platform YAML")
    q.add_argument("--profile", required=True,
                   help="profile JSON (`hadas profile` or `hadas hw import-lut`)")
    q.add_argument("--out", required=True, help="calibrated platform YAML to write")
    q.add_argument("--name", help="name of the calibrated platform (default: the base's); a "
                   "file shipped in hardware/platforms/ must be named as the file")
    q.add_argument("--config", help="run configuration (default: the one the profile names)")
    q.add_argument("--train-fraction", type=float, default=0.5,
                   help="share of samples fitted on; the rest is held out (default: 0.5)")
    q.add_argument("--seed", type=int, default=0, help="seed of the train/held-out split")
    q.add_argument("--precision", choices=("fp32", "fp16"), default="fp32")
    q.add_argument("--mode", help="power mode the profile was measured in (default: the "
                   "platform's default mode)")
    q.add_argument("--json", action="store_true", help="print the whole report as JSON")
    q.set_defaults(func=_calibrate)
    q = hsub.add_parser("import-lut", help="per-layer look-up tables (OFA / Harmonic-NAS keys) "
                        "-> a profile of operation samples")
    q.add_argument("files", nargs="+", help="LUT JSON files ({key: {lat: ms, enrg: mJ}})")
    q.add_argument("--platform", required=True, help="the board they were measured on")
    q.add_argument("--out", required=True, help="profile JSON to write")
    q.add_argument("--resolution", type=int,
                   help="network input resolution (default: each file's stem ConvLayer)")
    q.set_defaults(func=_import_lut)
    q = hsub.add_parser("check", help="score a platform on a profile without fitting it")
    q.add_argument("--platform", required=True, help="registered name or platform YAML")
    q.add_argument("--profile", required=True, help="profile JSON")
    q.add_argument("--config", help="run configuration (default: the one the profile names)")
    q.add_argument("--precision", choices=("fp32", "fp16"),
                   help="default: the calibration's, else fp32")
    q.add_argument("--mode", help="power mode (default: the calibration's, else the default)")
    q.add_argument("--held-out", action="store_true",
                   help="only the samples the platform's own calibration held out")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=_check)


def _list(args: argparse.Namespace) -> int:
    rows = api.platform_summaries()
    if args.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        points = " x ".join(f"{n} {d}" for d, n in r["dvfs_points"].items())
        print(f"{r['name']:<12} {r['description']} (default mode {r['default_mode']}; "
              f"DVFS {points})")
    return 0


def _show(args: argparse.Namespace) -> int:
    info = api.platform_info(args.name)
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"{info['name']}: {info['description']}")
    for domain, table in info["dvfs_hz"].items():
        print(f"  {domain} ({len(table)} points, Hz): {', '.join(map(str, table))}")
    print(f"  power modes: {', '.join(m['name'] for m in info['power_modes'])} "
          f"(default {info['default_mode']}); reference clocks {info['reference_hz']}")
    print(f"  coefficients ({info['provenance']['latency_ms']} latency, "
          f"{info['provenance']['energy_mj']} energy): {json.dumps(info['coefficients'])}")
    return 0


def _estimate(args: argparse.Namespace) -> int:
    r = api.estimate_costs(args.config, args.arch, args.platform, args.exits, args.exit_channels,
                           args.dvfs, args.precision, args.mode)
    if args.json:
        print(json.dumps(r))
        return 0
    prov = r["provenance"]
    print(f"{args.arch} on {r['platform']} ({r['power_mode']}, {r['precision']}) at "
          f"{r['dvfs_hz']}: latency {prov['latency_ms']}, energy {prov['energy_mj']}")
    for s in r["segments"]:
        print(f"  {s['kind']:<8} {s['index']:>2}  {s['latency_ms']:9.3f} ms  "
              f"{s['energy_mj']:9.3f} mJ")
    t = r["total"]
    print(f"  total        {t['latency_ms']:9.3f} ms  {t['energy_mj']:9.3f} mJ "
          "(every segment: all exit heads evaluated)")
    return 0


def _scores_line(name: str, q: dict) -> str:
    return (f"    {name:<13} MAPE {q['mape']:7.2f}%  Kendall tau {q['kendall_tau']:6.3f}  "
            f"Spearman rho {q['spearman_rho']:6.3f}  measured/predicted {q['ratio_median']:.3f} "
            f"[{q['ratio_p10']:.3f}, {q['ratio_p90']:.3f}]")


def _calibrate(args: argparse.Namespace) -> int:
    r = api.calibrate_platform(args.platform, args.profile, args.out, args.train_fraction,
                               args.seed, args.config, args.precision, args.mode, args.name)
    if args.json:
        print(json.dumps(r))
        return 0
    print(f"calibrated {r['platform']} on {r['n_train_samples']} samples, "
          f"held out {r['n_test_samples']}; wrote {r['out']}")
    for quantity in ("latency", "energy"):
        for split in ("train", "test"):
            q = (r[quantity] or {}).get(split)
            if q is None:
                print(f"  {quantity} {split}: -")
                continue
            print(f"  {quantity} {split} ({q['model']['n']} rows; trivial rankers fitted "
                  "y = a + b x on the training rows):")
            for name in ("model", "prior", "kernel_count", "macs"):
                print(_scores_line(name, q[name]))
    print(f"  identified: {', '.join(r['identified']) or 'nothing'}")
    for name, why in r["not_identified"].items():
        print(f"  not identified: {name}: {why}")
    for name, where in r["at_bound"].items():
        print(f"  on a physical bound: {name} {where}")
    for line in r["assumed"]:
        print(f"  assumed: {line}")
    return 0


def _check(args: argparse.Namespace) -> int:
    r = api.check_platform(args.platform, args.profile, args.config, args.precision, args.mode,
                           args.held_out)
    if args.json:
        print(json.dumps(r))
        return 0
    prov = r["provenance"]
    print(f"{r['platform']} ({prov['latency_ms']} latency, {prov['energy_mj']} energy) on "
          f"{r['n_samples']} samples{' (held out by its calibration)' if args.held_out else ''}:")
    for quantity in ("latency", "energy"):
        q = r[quantity]
        print(_scores_line(f"{quantity} ({q['n']})", q) if q else f"    {quantity}: no data")
    return 0


def _import_lut(args: argparse.Namespace) -> int:
    r = api.import_lut(args.files, args.platform, args.out, args.resolution)
    print(f"imported {r['n_samples']} operations measured on {r['platform']} into {r['out']}")
    print(f"  assumed: {r['assumed']}")
    return 0
