"""`hadas report RUN_DIR`: the HTML report of a finished run (works without torch)."""
from __future__ import annotations

import argparse

from hadas import api


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="HTML report of a finished run: fronts, hypervolume, "
                       "table of DyNNs, energy breakdown, provenance")
    p.add_argument("run_dir", help="a run directory written by `hadas search`")
    p.add_argument("--out", help="output folder (default: RUN_DIR/report)")
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    index = api.write_report(args.run_dir, args.out)
    print(f"report: {index}")
    return 0
