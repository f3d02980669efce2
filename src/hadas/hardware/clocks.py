"""Clocks: `parse_clocks` (the one `DOMAIN=HZ` parser) and `DvfsSetting`, one clock per domain
(Hz) validated against a platform's tables."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hadas.digest import json_digest
from hadas.errors import ConfigError
from hadas.hardware.platform import Platform

MAX_CLOCK_HZ = 100_000_000_000  # 100 GHz: far above any SoC clock; a larger value is a typo


def clock_hz(field: str, value: object) -> float:
    """`value` (a number or numeric text, exponents allowed) as a finite clock in
    (0, MAX_CLOCK_HZ] Hz, else ConfigError naming `field` (1e400, inf, nan, 0 Hz, 1e30 Hz)."""
    if isinstance(value, bool):
        raise ConfigError(field, f"{value!r} is not a number of Hz")
    if isinstance(value, int):  # exact: float(10**400) would overflow
        hz: float = value
    else:
        try:
            hz = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(field, f"not a number: {value!r}") from None
        if not math.isfinite(hz):
            raise ConfigError(field, f"{value!r} is not a finite number of Hz")
    if not 0 < hz <= MAX_CLOCK_HZ:
        raise ConfigError(field, f"{value!r} Hz is not a clock frequency",
                          f"above 0 and at most {MAX_CLOCK_HZ:.0e} Hz")
    return hz


def parse_clocks(text: str, field: str = "dvfs", domains: Sequence[str] = (), sep: str = "."
                 ) -> dict[str, int]:
    """`cpu=HZ,gpu=HZ,emc=HZ` (any subset; exponents allowed, e.g. 1.377e9) into whole Hz; a
    bad value is a ConfigError naming `<field><sep><domain>` (`domains`: named in the errors)."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        domain, equals, number = part.partition("=")
        if not equals:
            raise ConfigError(field, f"expected DOMAIN=HZ with a whole number of Hz, got "
                              f"{part!r}", domains)
        name = domain.strip()
        where = f"{field}{sep}{name}"
        hz = clock_hz(where, number.strip())  # finite, in range: int() is safe
        if hz != int(hz):
            raise ConfigError(where, f"{number.strip()!r} is not a whole number of Hz")
        out[name] = int(hz)
    return out


@dataclass(frozen=True)
class DvfsSetting:
    """Clocks of every domain of a platform, in Hz (hashable, JSON round-trippable)."""

    freq_hz: tuple[tuple[str, int], ...]   # (domain, Hz), in the platform's domain order

    @classmethod
    def create(cls, platform: Platform, freq_hz: Mapping[str, float] | None = None,
               mode: str | None = None) -> "DvfsSetting":
        """Validate `freq_hz` (domain -> Hz); domains left out take the reference clock."""
        given = dict(freq_hz or {})
        for domain in given:
            if domain not in platform.domains:
                raise ConfigError("dvfs", f"{platform.name} has no {domain!r} domain",
                                  platform.domains)
        values = platform.reference_hz(mode)
        for domain, hz in given.items():
            values[domain] = check_frequency(platform, domain, hz)
        return cls(tuple((d, values[d]) for d in platform.domains))

    @classmethod
    def reference(cls, platform: Platform, mode: str | None = None) -> "DvfsSetting":
        """The max clocks of a power mode (default: the platform's default mode)."""
        return cls.create(platform, mode=mode)

    @classmethod
    def parse(cls, platform: Platform, text: str) -> "DvfsSetting":
        """`cpu=HZ,gpu=HZ,emc=HZ` (see `parse_clocks`), checked against the platform's tables."""
        return cls.create(platform, parse_clocks(text, "dvfs", platform.domains))

    def __getitem__(self, domain: str) -> int:
        return dict(self.freq_hz)[domain]

    def to_dict(self) -> dict[str, int]:
        return dict(self.freq_hz)

    @property
    def key(self) -> str:
        return json_digest(self.to_dict())


def check_frequency(platform: Platform, domain: str, hz: float) -> int:
    """`hz` as an int if it is an entry of the domain's table, else ConfigError naming both."""
    table = platform.dvfs_hz[domain]
    value = float(clock_hz(f"dvfs.{domain}", hz))  # finite and in range: int() cannot overflow
    if not value.is_integer() or int(value) not in table:
        shown = int(value) if value.is_integer() else value
        raise ConfigError(f"dvfs.{domain}", f"{shown} Hz is not in the {platform.name} {domain} "
                          "table", table)
    return int(value)
