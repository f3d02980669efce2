"""Commands that run on the measuring machine: agent serve, profile, dvfs."""
from __future__ import annotations

import argparse
import json

from hadas import api


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("agent", help="device agent: measure DyNNs for a remote search host")
    agent = p.add_subparsers(dest="agent_command", required=True)
    s = agent.add_parser("serve", help="serve HTTP+JSON measurements (token required)")
    s.add_argument("--config", required=True, help="run configuration YAML (the search space)")
    s.add_argument("--platform", required=True, help="local | a Jetson platform name (sets clocks)")
    s.add_argument("--token-file", required=True, help="file holding the shared bearer token")
    s.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    s.add_argument("--port", type=int, default=8765, help="port (default: 8765; 0 = any free)")
    _measure_args(s, repeats=50)
    s.set_defaults(func=_serve)

    p = sub.add_parser("profile", help="measure segment latency/energy of sampled DyNNs "
                       "(resumable)")
    p.add_argument("--config", required=True, help="run configuration YAML")
    p.add_argument("--platform", default="local", help="local (clocks left alone) | a Jetson name")
    p.add_argument("--archs", type=int, default=8, help="sub-networks, min and max included")
    p.add_argument("--dvfs-points", type=int, default=4, help="DVFS points (1 on local)")
    p.add_argument("--out", default="profile.jsonl", help="profile file, JSON Lines (rerun to resume)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _measure_args(p, repeats=20)
    p.set_defaults(func=_profile)

    p = sub.add_parser("dvfs", help="show this board's clock tables, or pin clocks for a while")
    p.add_argument("--set", help="cpu=HZ,gpu=HZ,emc=HZ (any subset); default: show the tables")
    p.add_argument("--hold-s", type=float, help="seconds to hold (default: until Ctrl-C)")
    p.add_argument("--dry-run", action="store_true", help="print the writes, change nothing")
    p.add_argument("--sysfs-root", default="/", help=argparse.SUPPRESS)
    p.set_defaults(func=_dvfs)


def _measure_args(p: argparse.ArgumentParser, repeats: int) -> None:
    p.add_argument("--exit-channels", type=int, help="exit-head width (default: config exits)")
    p.add_argument("--repeats", type=int, default=repeats, help=f"timed runs (default {repeats})")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")


def _serve(args: argparse.Namespace) -> int:
    api.board.serve_agent(args.config, args.platform, args.token_file, args.host, args.port,
                          args.exit_channels, args.device, args.repeats)
    return 0


def _profile(args: argparse.Namespace) -> int:
    run = api.profile(args.config, args.platform, args.archs, args.dvfs_points,
                            args.out, args.exit_channels, args.seed, args.repeats, args.device,
                            progress=not args.quiet)
    print(f"{run.path}: {run.measured} samples measured, {run.skipped} already there "
          f"({run.planned} planned)")
    if run.dvfs_note:
        print(f"  {run.dvfs_note}")
    if run.energy_unavailable:
        print(f"  energy unavailable: {run.energy_unavailable}")
    return 0


def _dvfs(args: argparse.Namespace) -> int:
    if args.set is None:
        print(json.dumps(api.board.board_tables(args.sysfs_root), indent=1))
        return 0
    api.board.pin_clocks(api.board.parse_clocks(args.set, "set", sep=" "), args.hold_s, args.dry_run,
                         args.sysfs_root)
    return 0
