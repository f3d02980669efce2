"""`hadas`: thin command-line front end of `hadas.api`. User errors exit with status 2."""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from hadas import api
from hadas.errors import HadasError


def _add_common(p: argparse.ArgumentParser, device: bool = True) -> None:
    p.add_argument("--config", required=True, help="run configuration YAML (see configs/)")
    if device:
        p.add_argument("--device", default="auto", help="auto | cpu | cuda (default: auto)")
        p.add_argument("--download", action="store_true", default=None,
                       help="allow downloading the dataset (overrides data.download)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hadas", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train-supernet", help="train the weight-sharing supernet (sandwich rule)")
    _add_common(p)
    p.add_argument("--out", help="output folder (default: runs/<config name>/supernet)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("evaluate", help="top-1, MFLOPs and parameters of one sub-network")
    _add_common(p)
    p.add_argument("--checkpoint", required=True, help="supernet checkpoint (ours or AttentiveNAS)")
    p.add_argument("--arch", required=True, help="min | max | a0..a6 | inline JSON | file.json")
    p.add_argument("--split", choices=("val", "test"), help="default: data.eval_split")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("describe", help="MFLOPs, parameters and blocks of a sub-network")
    _add_common(p, device=False)
    p.add_argument("--arch", required=True, help="min | max | a0..a6 | inline JSON | file.json")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("demo", help="train the embedded supernet (cached) and evaluate min/max")
    _add_common(p)
    p.add_argument("--out", default="runs/demo", help="run folder (default: runs/demo)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except HadasError as exc:
        print(f"hadas: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nhadas: interrupted; the last checkpoint is kept (rerun with --resume)",
              file=sys.stderr)
        return 130


def _train(args: argparse.Namespace) -> int:
    result = api.train_supernet(args.config, args.out, args.device, args.resume,
                                progress=not args.quiet, download=args.download)
    last = result.history[-1] if result.history else {}
    print(f"trained {result.epochs_done} epochs (resumed from epoch {result.resumed_from}); "
          f"last loss {last.get('loss_max', float('nan')):.4f}; checkpoint {result.checkpoint}")
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
    from pathlib import Path
    t0 = time.perf_counter()
    out = Path(args.out) / "supernet"
    print(f"[1/2] training the embedded supernet ({args.config}) into {out} "
          "(cached: an existing finished run is reused)")
    result = api.train_supernet(args.config, out, args.device, resume=True, download=args.download)
    print(f"      {result.epochs_done} epochs, checkpoint {result.checkpoint}")
    print("[2/2] evaluating the smallest and largest sub-networks (BN re-estimated, top-1)")
    for arch in ("min", "max"):
        ev = api.evaluate(args.config, result.checkpoint, arch, args.device)
        print(f"      {arch}: top-1 {ev.top1:.2f}% on {ev.n_eval} {ev.split} images, "
              f"{ev.mflops:.3f} MFLOPs, {ev.mparams:.3f} M params")
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return 0


COMMANDS = {"train-supernet": _train, "evaluate": _evaluate, "describe": _describe, "demo": _demo}

if __name__ == "__main__":
    sys.exit(main())
