"""Errors a user can act on. The CLI prints them as one line and exits with status 2."""
from __future__ import annotations

from collections.abc import Iterable


class HadasError(Exception):
    """Base class of every error hadas reports to a user without a traceback."""


class ConfigError(HadasError, ValueError):
    """An invalid configuration value: names the field and what is allowed."""

    def __init__(self, field: str, problem: str, allowed: Iterable[object] | str | None = None):
        self.field = field
        self.problem = problem
        if allowed is None:
            self.allowed = None
        elif isinstance(allowed, str):
            self.allowed = allowed
        else:
            self.allowed = ", ".join(str(a) for a in allowed)
        message = f"{field}: {problem}"
        if self.allowed:
            message += f" (allowed: {self.allowed})"
        super().__init__(message)


class CheckpointError(HadasError):
    """A checkpoint that does not fit the supernet: names the tensor."""


class CorruptFileError(HadasError):
    """A file hadas stored that no longer holds what it wrote: names it and how to recover."""

    def __init__(self, path: object, problem: str,
                 recovery: str = "delete it and rerun the same command; everything else stored "
                 "is reused"):
        self.path = path
        super().__init__(f"{path} is corrupt ({problem}): {recovery}")


class DataError(HadasError):
    """A dataset that cannot be read: names the path and the flag that would fix it."""
