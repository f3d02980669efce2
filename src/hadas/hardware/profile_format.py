"""The profile file (`hadas-profile/1`): measured segment costs of DyNNs at DVFS points.

`hadas profile` writes it (one sample appended atomically at a time, so a run can resume) and
`hadas hw calibrate` reads it. JSON:

    {"format": "hadas-profile/1", "platform": str, "config": str, "exit_channels": int,
     "created": iso time, "host": {...},
     "samples": [{"arch": {Backbone.to_dict()}, "exits": {ExitPlan.to_dict()},
                  "dvfs": {domain: Hz} (only the domains that were set),
                  "segments": [{"kind": "backbone"|"exit", "index": int, "latency_ms": float,
                                "latency_ms_spread": float, "energy_mj": float|null,
                                "energy_unavailable": str|null}, ...in segments() order]}]}
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hadas.atomic import write_atomic
from hadas.errors import ConfigError

FORMAT = "hadas-profile/1"
SEGMENT_KINDS = ("backbone", "exit")


@dataclass(frozen=True)
class SegmentSample:
    """One segment's measurement: latency (median and spread) and energy or why there is none."""

    kind: str
    index: int
    latency_ms: float
    latency_ms_spread: float = 0.0
    energy_mj: float | None = None
    energy_unavailable: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "index": self.index, "latency_ms": self.latency_ms,
                "latency_ms_spread": self.latency_ms_spread, "energy_mj": self.energy_mj,
                "energy_unavailable": self.energy_unavailable}


@dataclass(frozen=True)
class ProfileSample:
    """One DyNN (arch + exit plan) measured at one DVFS point."""

    arch: dict[str, Any]
    exits: dict[str, Any]
    dvfs: dict[str, int]
    segments: tuple[SegmentSample, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch, "exits": self.exits, "dvfs": self.dvfs,
                "segments": [s.to_dict() for s in self.segments]}

    @property
    def key(self) -> str:
        """What was measured (arch, exits, clocks), not the result: lets a resumed run skip it."""
        text = json.dumps([self.arch, self.exits, self.dvfs], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Profile:
    """A whole profile file."""

    platform: str
    config: str
    exit_channels: int
    created: str
    host: dict[str, Any] = field(default_factory=dict)
    samples: tuple[ProfileSample, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "platform": self.platform, "config": self.config,
                "exit_channels": self.exit_channels, "created": self.created, "host": self.host,
                "samples": [s.to_dict() for s in self.samples]}


def write_profile(path: str | Path, platform: str, config: str, exit_channels: int,
                  samples: tuple[ProfileSample, ...] | list[ProfileSample] = (),
                  host: dict[str, Any] | None = None, created: str | None = None) -> Profile:
    """Write a profile atomically (replacing any file at `path`) and return it."""
    profile = Profile(platform, str(config), int(exit_channels),
                      created or datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      dict(host or {}), tuple(samples))
    profile_from_dict(profile.to_dict(), str(path))   # validate before writing
    _write_atomic(Path(path), profile.to_dict())
    return profile


def append_sample(path: str | Path, sample: ProfileSample) -> Profile:
    """Add one sample to an existing profile atomically (tmp file + os.replace)."""
    profile = read_profile(path)
    updated = Profile(profile.platform, profile.config, profile.exit_channels, profile.created,
                      profile.host, (*profile.samples, sample))
    profile_from_dict(updated.to_dict(), str(path))
    _write_atomic(Path(path), updated.to_dict())
    return updated


def read_profile(path: str | Path) -> Profile:
    """Read and validate a profile; ConfigError names the faulty field."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("profile", f"file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError("profile", f"{path} is not valid JSON (line {exc.lineno})") from None
    return profile_from_dict(data, str(path))


def profile_from_dict(data: Any, where: str = "profile") -> Profile:
    """Validate a profile mapping."""
    _mapping(data, "profile")
    if data.get("format") != FORMAT:
        raise ConfigError("profile.format", f"{where}: got {data.get('format')!r}", [FORMAT])
    for key in ("platform", "config", "created"):
        if not isinstance(data.get(key), str):
            raise ConfigError(f"profile.{key}", f"must be a string, got {data.get(key)!r}")
    channels = data.get("exit_channels")
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ConfigError("profile.exit_channels", f"must be an integer >= 1, got {channels!r}")
    host = data.get("host", {})
    _mapping(host, "profile.host")
    samples = data.get("samples")
    if not isinstance(samples, list):
        raise ConfigError("profile.samples", "must be a list")
    return Profile(data["platform"], data["config"], channels, data["created"], dict(host),
                   tuple(_sample(s, f"profile.samples[{i}]") for i, s in enumerate(samples)))


def _sample(data: Any, where: str) -> ProfileSample:
    _mapping(data, where)
    for key in ("arch", "exits", "dvfs"):
        _mapping(data.get(key), f"{where}.{key}")
    dvfs = {}
    for domain, hz in data["dvfs"].items():
        if isinstance(hz, bool) or not isinstance(hz, (int, float)) or hz <= 0 or hz != int(hz):
            raise ConfigError(f"{where}.dvfs.{domain}", f"must be a whole number of Hz, got {hz!r}")
        dvfs[str(domain)] = int(hz)
    segs = data.get("segments")
    if not isinstance(segs, list) or not segs:
        raise ConfigError(f"{where}.segments", "must be a non-empty list")
    return ProfileSample(dict(data["arch"]), dict(data["exits"]), dvfs,
                         tuple(_segment(s, f"{where}.segments[{j}]") for j, s in enumerate(segs)))


def _segment(data: Any, where: str) -> SegmentSample:
    _mapping(data, where)
    if data.get("kind") not in SEGMENT_KINDS:
        raise ConfigError(f"{where}.kind", f"got {data.get('kind')!r}", SEGMENT_KINDS)
    index = data.get("index")
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ConfigError(f"{where}.index", f"must be an integer >= 0, got {index!r}")
    latency = _positive(data.get("latency_ms"), f"{where}.latency_ms")
    spread = data.get("latency_ms_spread", 0.0)
    if not _finite(spread) or spread < 0:
        raise ConfigError(f"{where}.latency_ms_spread", f"must be a number >= 0, got {spread!r}")
    energy, reason = data.get("energy_mj"), data.get("energy_unavailable")
    if energy is None:
        if not isinstance(reason, str) or not reason:
            raise ConfigError(f"{where}.energy_unavailable",
                              "must say why when energy_mj is null")
    else:
        energy = _positive(energy, f"{where}.energy_mj")
        if reason is not None:
            raise ConfigError(f"{where}.energy_unavailable", "must be null when energy_mj is set")
    return SegmentSample(data["kind"], index, latency, float(spread), energy, reason)


def _mapping(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise ConfigError(where, f"must be a mapping, got {type(value).__name__}")


def _finite(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _positive(value: Any, where: str) -> float:
    if not _finite(value) or value <= 0:
        raise ConfigError(where, f"must be a number > 0, got {value!r}")
    return float(value)


def _write_atomic(path: Path, data: dict[str, Any]) -> None:
    write_atomic(path, lambda f: json.dump(data, f, indent=1), binary=False)
