"""The one validator of values read from user files (run configs, platform files, profiles):
typed checks that name the faulty field, and what is allowed, in a `ConfigError`.

The functions check one value; `Fields` reads the keys of one mapping with them.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hadas.errors import ConfigError


def mapping(value: Any, where: str, keys: Iterable[str] | None = None) -> Mapping[str, Any]:
    """`value` if it is a mapping (and holds only `keys`, when given)."""
    if not isinstance(value, Mapping):
        raise ConfigError(where, f"must be a mapping, got {type(value).__name__}",
                          None if keys is None else list(keys))
    if keys is not None:
        known_keys(value, keys, where)
    return value


def known_keys(data: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    allowed = list(allowed)
    for key in data:
        if key not in allowed:
            raise ConfigError(f"{where}.{key}", "unknown key", allowed)


def boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(where, f"must be true or false, got {value!r}", ["true", "false"])
    return value


def integer(value: Any, where: str, lo: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(where, f"must be an integer, got {value!r}")
    if lo is not None and value < lo:
        raise ConfigError(where, f"must be an integer >= {lo}, got {value!r}")
    return value


def number(value: Any, where: str, lo: float | None = None, hi: float | None = None,
           above: float | None = None) -> float:
    """A finite number (not a bool) in [lo, hi], and > `above` when given."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(where, f"must be a finite number, got {value!r}")
    try:
        out = float(value)
    except OverflowError:  # an integer beyond float range
        out = math.inf
    if not math.isfinite(out):
        raise ConfigError(where, f"must be a finite number, got {value!r}")
    if above is not None and not out > above:
        raise ConfigError(where, f"must be a number > {above:g}, got {value!r}")
    if (lo is not None and out < lo) or (hi is not None and out > hi):
        bound = (f"in [{lo}, {hi}]" if lo is not None and hi is not None
                 else f"a number >= {lo}" if lo is not None else f"a number <= {hi}")
        raise ConfigError(where, f"must be {bound}, got {value!r}")
    return out


def text(value: Any, where: str, choices: Sequence[str] | None = None,
         empty: bool = False) -> str:
    """A string (non-empty unless `empty`), one of `choices` when given."""
    if not isinstance(value, str) or not (value or empty):
        raise ConfigError(where, f"must be a {'' if empty else 'non-empty '}string, got "
                          f"{value!r}")
    if choices is not None and value not in choices:
        raise ConfigError(where, f"got {value!r}", choices)
    return value


def whole_hz(value: Any, where: str) -> int:
    """A clock: a whole, positive, finite number of Hz."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value <= 0 or value != int(value):
        raise ConfigError(where, f"must be a whole number of Hz, got {value!r}")
    return int(value)


class Fields:
    """Typed reads of one mapping of a user file; `where` prefixes every field name."""

    def __init__(self, data: Any, where: str):
        self.data, self.where = mapping(data, where), where

    def get(self, key: str) -> Any:
        if key not in self.data:
            raise ConfigError(f"{self.where}.{key}", "missing")
        return self.data[key]

    def only(self, allowed: Iterable[str]) -> None:
        known_keys(self.data, allowed, self.where)

    def sub(self, key: str) -> "Fields":
        return Fields(self.get(key), f"{self.where}.{key}")

    def sequence(self, key: str) -> list[Any]:
        value = self.get(key)
        if not isinstance(value, list):
            raise ConfigError(f"{self.where}.{key}", "must be a list")
        return value

    def text(self, key: str, choices: Sequence[str] | None = None) -> str:
        return text(self.get(key), f"{self.where}.{key}", choices)

    def integer(self, key: str) -> int:
        return integer(self.get(key), f"{self.where}.{key}")

    def number(self, key: str, lo: float | None = None, hi: float | None = None) -> float:
        return number(self.get(key), f"{self.where}.{key}", lo, hi)

    def freq_table(self, key: str) -> tuple[int, ...]:
        """A clock table: positive integers (Hz), ascending, no repeats."""
        where = f"{self.where}.{key}"
        values = self.sequence(key)
        if not values or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0
                             for v in values):
            raise ConfigError(where, "must be a non-empty list of positive integers (Hz)")
        if list(values) != sorted(set(values)):
            raise ConfigError(where, "must be sorted ascending without repeats")
        return tuple(values)
