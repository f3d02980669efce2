"""`hadas`: thin command-line front end of `hadas.api`. User errors exit with status 2.

Each area registers its commands from its own module (`hadas.cli.<area>.register`).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from hadas.cli import board, exits, export, hardware, report, search, supernet
from hadas.errors import ConfigError, HadasError

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
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HadasError as exc:
        print(f"hadas: error: {as_flag(exc, argv)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `hadas platforms list | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("\nhadas: interrupted; finished work is saved (checkpoints, exit banks, the run "
              "database): rerun the same command (with --resume for train-supernet)",
              file=sys.stderr)
        return 130


def as_flag(exc: HadasError, argv: Sequence[str]) -> str:
    """The error's text, its field named as the flag the user gave for it (the library names
    its parameters, `workers`; the command line says `--workers`)."""
    text = str(exc)
    if not isinstance(exc, ConfigError):
        return text
    word = exc.field.split(" ")[0]
    flag = "--" + word.replace("_", "-")
    given = {a.split("=")[0] for a in argv if a.startswith("--")}
    return flag + text[len(word):] if flag in given else text


if __name__ == "__main__":
    sys.exit(main())
