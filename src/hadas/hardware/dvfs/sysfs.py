"""Reading and writing kernel clock nodes under a root (`/` on a board, a tmp dir in tests)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hadas.errors import HadasError


class DvfsError(HadasError):
    """A clock could not be found, written, or did not take the value asked for."""


class SysfsIO:
    """File access for clock control; with `dry_run` every write is printed instead of done."""

    def __init__(self, root: str | Path = "/", dry_run: bool = False,
                 log: Callable[[str], None] = print):
        self.root = Path(root)
        self.dry_run = dry_run
        self.log = log

    def path(self, rel: str) -> Path:
        """`rel` (an absolute kernel path such as `/sys/...`) inside the root."""
        return self.root / rel.lstrip("/")

    def read(self, path: Path) -> str:
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise DvfsError(f"cannot read {path}: {exc.strerror or exc}") from None

    def read_int(self, path: Path) -> int:
        text = self.read(path)
        try:
            return int(text)
        except ValueError:
            raise DvfsError(f"{path}: expected an integer, read {text!r}") from None

    def read_ints(self, path: Path) -> tuple[int, ...]:
        text = self.read(path)
        try:
            return tuple(int(v) for v in text.split())
        except ValueError:
            raise DvfsError(f"{path}: expected integers, read {text!r}") from None

    def write(self, path: Path, value: int | str) -> None:
        if self.dry_run:
            self.log(f"dry-run: echo {value} > {path}")
            return
        try:
            with open(path, "w") as f:
                f.write(f"{value}\n")
        except PermissionError:
            raise DvfsError(f"cannot write {path}: permission denied "
                            "(clock control needs root; try --dry-run to see the writes)") from None
        except OSError as exc:
            raise DvfsError(f"the kernel refused {value} for {path}: "
                            f"{exc.strerror or exc}") from None
