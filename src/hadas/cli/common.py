"""Arguments shared by several commands."""
from __future__ import annotations

import argparse

ARCH_HELP = "min | max | a0..a6 | inline JSON arch config | path to a .json file"


def add_config(p: argparse.ArgumentParser, device: bool = True) -> None:
    """`--config`, and (for commands that run torch) `--device` and `--download`."""
    p.add_argument("--config", required=True, help="run configuration YAML (see configs/)")
    if device:
        p.add_argument("--device", default="auto", help="auto | cpu | cuda (default: auto)")
        p.add_argument("--download", action="store_true", default=None,
                       help="allow downloading the dataset (overrides data.download)")


def add_collective_timeout(p: argparse.ArgumentParser) -> None:
    """`--collective-timeout` of commands that train data-parallel under torchrun."""
    p.add_argument("--collective-timeout", type=float, default=300.0, metavar="SECONDS",
                   help="under torchrun: stop the job when a collective (gradient all-reduce, "
                   "broadcast) waits longer than this, e.g. after another rank died (default 300)")
