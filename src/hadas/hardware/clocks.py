"""`DvfsSetting`: one clock per domain (Hz), validated against a platform's tables."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from hadas.errors import ConfigError
from hadas.hardware.platform import Platform


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
        """`cpu=HZ,gpu=HZ,emc=HZ` (any subset; numbers may use exponents, e.g. 1.377e9)."""
        values: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            domain, sep, number = part.partition("=")
            if not sep:
                raise ConfigError("dvfs", f"expected DOMAIN=HZ, got {part!r}", platform.domains)
            try:
                values[domain.strip()] = float(number)
            except ValueError:
                raise ConfigError(f"dvfs.{domain.strip()}", f"not a number: {number!r}") from None
        return cls.create(platform, values)

    def __getitem__(self, domain: str) -> int:
        return dict(self.freq_hz)[domain]

    def to_dict(self) -> dict[str, int]:
        return dict(self.freq_hz)

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def check_frequency(platform: Platform, domain: str, hz: float) -> int:
    """`hz` as an int if it is an entry of the domain's table, else ConfigError naming both."""
    table = platform.dvfs_hz[domain]
    value = float(hz)
    if isinstance(hz, bool) or not value.is_integer() or int(value) not in table:
        shown = int(value) if value.is_integer() else value
        raise ConfigError(f"dvfs.{domain}", f"{shown} Hz is not in the {platform.name} {domain} "
                          "table", table)
    return int(value)
