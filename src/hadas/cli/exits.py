"""`hadas exits train` and `hadas exits eval`."""
from __future__ import annotations

import argparse
import json

from hadas import api
from hadas.cli.common import ARCH_HELP, add_collective_timeout, add_config
from hadas.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("exits", help="early exits: train an exit bank, evaluate exit plans")
    exits = p.add_subparsers(dest="exits_command", required=True)
    for name, helptext in (("train", "train the heads of every candidate exit of a backbone"),
                           ("eval", "top-1, exit rates and per-exit accuracy of an exit plan")):
        q = exits.add_parser(name, help=helptext)
        add_config(q)
        q.add_argument("--checkpoint", required=True, help="trained supernet checkpoint")
        q.add_argument("--arch", required=True, help=ARCH_HELP)
        q.add_argument("--out", help="exit-bank folder (default: beside the checkpoint)")
        q.add_argument("--quiet", action="store_true", help="no progress bar")
        q.add_argument("--json", action="store_true", help="print JSON")
        q.set_defaults(func=_train if name == "train" else _eval)
        if name == "train":
            add_collective_timeout(q)
    q.add_argument("--exits", required=True, help="block positions, e.g. 5,9,14")
    q.add_argument("--threshold", help="one value, or one per exit (comma separated)")
    q.add_argument("--policy", choices=api.EXIT_POLICIES,
                   help="default: exits.policy of the config (oracle is a bound, not deployable)")


def _ints(text: str, field: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(field, f"expected comma-separated integers, got {text!r}") from None


def _floats(text: str | None) -> float | tuple[float, ...] | None:
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError("--threshold", f"expected numbers, got {text!r}") from None
    return values[0] if len(values) == 1 else values


def _train(args: argparse.Namespace) -> int:
    art = api.train_exit_bank(args.config, args.checkpoint, args.arch, args.out, args.device,
                              not args.quiet, args.download, args.collective_timeout)
    if not api.is_main_process():
        return 0
    acc = art.cache.accuracy()
    rows = [{"exit": f"after block {p}", "position": p, "top1": round(float(a), 2)}
            for p, a in zip(art.positions, acc)]
    rows.append({"exit": "final classifier", "position": None, "top1": round(float(acc[-1]), 2)})
    if args.json:
        print(json.dumps({"key": art.key, "trained_now": art.trained_now, "exits": rows}))
        return 0
    state = "trained" if art.trained_now else "reused (already trained)"
    print(f"exit bank {art.key}: {state}, {art.directory}")
    print(f"{'exit':>18}  top-1 on {art.cache.n_samples} evaluation images")
    for r in rows:
        print(f"{r['exit']:>18}  {r['top1']:6.2f}%")
    return 0


def _eval(args: argparse.Namespace) -> int:
    ev = api.evaluate_exits(args.config, args.checkpoint, args.arch,
                            _ints(args.exits, "--exits"), _floats(args.threshold), args.policy,
                            args.out, args.device, not args.quiet, args.download)
    sim, plan = ev.simulation, ev.plan
    names = [f"block {p}" for p in plan.positions] + ["final"]
    if args.json:
        print(json.dumps({"plan": plan.to_dict(), "top1": round(sim.top1, 3),
                          "exit_rates": [round(float(r), 4) for r in sim.exit_rates],
                          "exit_accuracy": [None if a != a else round(float(a), 2)
                                            for a in sim.exit_accuracy]}))
        return 0
    label = " (oracle: a bound, not a deployable policy)" if plan.policy == "oracle" else ""
    print(f"top-1 {sim.top1:.2f}% with exits {list(plan.positions)}, {plan.policy} "
          f"threshold {plan.threshold}{label}")
    for name, rate, acc in zip(names, sim.exit_rates, sim.exit_accuracy):
        shown = "   -  " if acc != acc else f"{acc:6.2f}%"
        print(f"{name:>10}: {100 * rate:6.2f}% of samples leave here, accuracy {shown}")
    return 0
