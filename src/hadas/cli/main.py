"""`hadas`: thin command-line front end of `hadas.api`. User errors exit with status 2.

Each area registers its commands from its own module (`hadas.cli.<area>.register`).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from hadas.cli import board, exits, export, hardware, report, search, supernet
from hadas.errors import HadasError

AREAS = (supernet, exits, search, report, export, hardware, board)


class Parser(argparse.ArgumentParser):
    """argparse with a usage error on one line (and where to find the usage), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\nsee `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="hadas", description="Hardware-aware dynamic NAS.")
    sub = parser.add_subparsers(dest="command", required=True)
    for area in AREAS:
        area.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HadasError as exc:
        print(f"hadas: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `hadas platforms list | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("\nhadas: interrupted; finished work is saved (checkpoints, exit banks, the run "
              "database): rerun the same command (with --resume for train-supernet)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
