"""Commands on the supernet: describe, train-supernet, evaluate, demo."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from hadas import api
from hadas.cli.common import ARCH_HELP, add_collective_timeout, add_config
from hadas.cli.search import print_front


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-supernet", help="train the weight-sharing supernet (sandwich rule); "
                       "data-parallel on N processes under torchrun")
    add_config(p)
    add_collective_timeout(p)
    p.add_argument("--out", help="output folder (default: runs/<config name>/supernet)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)

    p = sub.add_parser("evaluate", help="top-1, MFLOPs and parameters of one sub-network")
    add_config(p)
    p.add_argument("--checkpoint", required=True, help="supernet checkpoint (ours or AttentiveNAS)")
    p.add_argument("--arch", required=True, help=ARCH_HELP)
    p.add_argument("--split", choices=("val", "test"), help="default: data.eval_split")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("describe", help="MFLOPs, parameters and blocks of a sub-network")
    add_config(p, device=False)
    p.add_argument("--arch", required=True, help=ARCH_HELP)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_describe)

    p = sub.add_parser("demo", help="the embedded default end to end: train the supernet "
                       "(cached), evaluate min/max, run the bi-level search")
    add_config(p)
    p.add_argument("--out", default="runs/demo", help="run folder (default: runs/demo)")
    p.set_defaults(func=_demo)


def _train(args: argparse.Namespace) -> int:
    result = api.train_supernet(args.config, args.out, args.device, args.resume,
                                progress=not args.quiet, download=args.download,
                                collective_timeout=args.collective_timeout)
    if not result.world.main:
        return 0
    last = result.history[-1] if result.history else {}
    where = f" on {result.world.size} processes" if result.world.parallel else ""
    print(f"trained {result.epochs_done} epochs{where} (resumed from epoch "
          f"{result.resumed_from}); last loss {last.get('loss_max', float('nan')):.4f}; "
          f"checkpoint {result.checkpoint}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    ev = api.evaluate(args.config, args.checkpoint, args.arch, args.device, args.split,
                      args.download)
    row = {"arch": args.arch, "top1": round(ev.top1, 2), "mflops": round(ev.mflops, 2),
           "mparams": round(ev.mparams, 3), "split": ev.split, "n_eval": ev.n_eval}
    print(json.dumps(row) if args.json else
          f"{args.arch}: top-1 {ev.top1:.2f}% on {ev.n_eval} {ev.split} images, "
          f"{ev.mflops:.2f} MFLOPs, {ev.mparams:.3f} M parameters")
    return 0


def _describe(args: argparse.Namespace) -> int:
    d = api.describe(args.config, args.arch)
    if args.json:
        print(json.dumps({k: d[k] for k in ("mflops", "mparams", "resolution", "n_blocks")}))
    else:
        print(f"{args.arch}: {d['mflops']:.2f} MFLOPs, {d['mparams']:.3f} M parameters, "
              f"resolution {d['resolution']}, {d['n_blocks']} blocks\n{json.dumps(d['arch'])}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    out = Path(args.out)
    print(f"[1/4] training the embedded supernet ({args.config}) into {out / 'supernet'} "
          "(cached: an existing finished run is reused)")
    result = api.train_supernet(args.config, out / "supernet", args.device, resume=True,
                                download=args.download)
    print(f"      {result.epochs_done} epochs, checkpoint {result.checkpoint}")
    print("[2/4] evaluating the smallest and largest sub-networks (BN re-estimated, top-1)")
    for arch in ("min", "max"):
        ev = api.evaluate(args.config, result.checkpoint, arch, args.device)
        print(f"      {arch}: top-1 {ev.top1:.2f}% on {ev.n_eval} {ev.split} images, "
              f"{ev.mflops:.3f} MFLOPs, {ev.mparams:.3f} M params")
    seed = api.configure(args.config).seed
    runs = {mode: out / f"{mode}-seed{seed}" for mode in ("hadas", "conventional")}
    say = (lambda line: print(f"      {line}"))
    print("[3/4] bi-level search: backbones (OOE), then exits + DVFS (IOE) of the best ones, "
          "then the energy breakdown and the HTML report")
    found, run_dir = api.search(args.config, runs["hadas"], device=args.device, say=say,
                                supernet_dir=out / "supernet")
    print("[4/4] the paper's baseline on the same budget: conventional backbones (here the front "
          "of a static OOE; AttentiveNAS a0-a6 on CIFAR) given exits + DVFS by the IOE")
    api.search(args.config, runs["conventional"], mode="conventional", device=args.device,
               say=say, supernet_dir=out / "supernet")
    print(f"\nPareto front: {len(found.archive)} DyNNs on {found_platform(run_dir)} "
          "(latency and energy: expected per inference over the evaluation split)")
    print_front(found.archive)
    ours, base, gain = api.compare_runs(runs["hadas"], runs["conventional"])
    print("\nenergy breakdown (does DVFS add to the exits, at equal accuracy?):")
    for line in api.dvfs_verdict_lines(ours.get("breakdown") or []):
        print(f"  {line}")
    print(f"\nhypervolume: hadas {ours['hypervolume'][-1]:.4f}, conventional "
          f"{base['hypervolume'][-1]:.4f}")
    if gain.max_pct is not None:
        print(f"energy gain over conventional at equal accuracy: up to {gain.max_pct:.1f} %, "
              f"mean {gain.mean_pct:.1f} % ({gain.matched} conventional DyNNs matched, "
              f"{gain.unmatched} not)")
    print(f"results in {out}; done in {time.perf_counter() - t0:.0f} s")
    print(f"report: {run_dir / 'report' / 'index.html'}")
    return 0


def found_platform(run_dir: Path) -> str:
    return api.load_result(run_dir)["platform"]
