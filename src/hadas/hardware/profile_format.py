"""The profile file: measured costs at DVFS points, of three kinds.

`hadas profile` writes it (one sample appended at a time, so a run can resume),
`hadas hw import-lut` converts per-layer look-up tables into it, and `hadas hw calibrate` /
`hadas hw check` read it. It is written as JSON Lines (`hadas-profile/3`), append-only: the
first line is the header, every further line one sample, so adding a sample writes one line
and never rewrites the file:

    {"format": "hadas-profile/3", "platform": str, "config": str|null (needed by dynn and
     network samples), "exit_channels": int|null (needed by dynn samples), "created": iso time,
     "host": {...: how and where it was measured, what was assumed}}
    {"kind": "dynn", "arch": {Backbone.to_dict()}, "exits": {ExitPlan.to_dict()},
     "dvfs": {domain: Hz} (only the domains that were set),
     "segments": [{"kind": "backbone"|"exit", "index": int, MEASURED}, ...segments() order]}
    {"kind": "operation", "op": {Operation.to_dict()}, "label": str|null, "dvfs": {...},
     MEASURED}
    {"kind": "network", "arch": {Backbone.to_dict()}, "dvfs": {...}, MEASURED}

MEASURED = "latency_ms": float, "latency_ms_spread": float, "energy_mj": float|null,
"energy_unavailable": str|null (why there is no energy). A `network` sample is a whole static
sub-network run end to end as one invocation. A crash while a line is appended leaves at
most a torn last line without its newline: readers skip it and the next append replaces it.

Single JSON documents (the header's keys plus "samples": [...]) of `hadas-profile/2`, and of
`hadas-profile/1` (DyNN samples only, without "kind"), are still read; appending to one turns
it into the line form first.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from hadas.digest import json_digest
from hadas.atomic import write_atomic
from hadas.errors import ConfigError
from hadas.fields import integer, mapping, number, text, whole_hz
from hadas.files import parse_json, read_text
from hadas.hardware.operations import Operation

FORMAT = "hadas-profile/3"               # JSON Lines: header, then one sample per line
DOCUMENTS = ("hadas-profile/1", "hadas-profile/2")  # one JSON document, still read
FORMATS = (*DOCUMENTS, FORMAT)
SEGMENT_KINDS = ("backbone", "exit")
SAMPLE_KINDS = ("dynn", "operation", "network")


@dataclass(frozen=True)
class Measured:
    """One measurement: latency (median and spread) and energy or why there is none."""

    latency_ms: float
    latency_ms_spread: float = 0.0
    energy_mj: float | None = None
    energy_unavailable: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"latency_ms": self.latency_ms, "latency_ms_spread": self.latency_ms_spread,
                "energy_mj": self.energy_mj, "energy_unavailable": self.energy_unavailable}


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

    kind = "dynn"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "arch": self.arch, "exits": self.exits, "dvfs": self.dvfs,
                "segments": [s.to_dict() for s in self.segments]}

    @property
    def key(self) -> str:
        """What was measured (arch, exits, clocks), not the result: lets a resumed run skip it."""
        return json_digest([self.arch, self.exits, self.dvfs])


@dataclass(frozen=True)
class OperationSample:
    """One layer or block (`hadas.hardware.operations.Operation`) measured on its own."""

    op: dict[str, Any]
    dvfs: dict[str, int]
    measured: Measured
    label: str | None = None
    kind = "operation"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "op": self.op, "label": self.label, "dvfs": self.dvfs,
                **self.measured.to_dict()}


@dataclass(frozen=True)
class NetworkSample:
    """A whole static sub-network measured end to end."""

    arch: dict[str, Any]
    dvfs: dict[str, int]
    measured: Measured
    kind = "network"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "arch": self.arch, "dvfs": self.dvfs, **self.measured.to_dict()}


Sample = ProfileSample | OperationSample | NetworkSample


@dataclass(frozen=True)
class Profile:
    """A whole profile file."""

    platform: str
    config: str | None
    exit_channels: int | None
    created: str
    host: dict[str, Any] = field(default_factory=dict)
    samples: tuple[Sample, ...] = ()

    def header(self) -> dict[str, Any]:
        return {"format": FORMAT, "platform": self.platform, "config": self.config,
                "exit_channels": self.exit_channels, "created": self.created, "host": self.host}

    def to_dict(self) -> dict[str, Any]:
        """The single-document form (`hadas-profile/2`)."""
        return {**self.header(), "format": DOCUMENTS[-1],
                "samples": [s.to_dict() for s in self.samples]}


def write_profile(path: str | Path, platform: str, config: str | None, exit_channels: int | None,
                  samples: tuple[Sample, ...] | list[Sample] = (),
                  host: dict[str, Any] | None = None, created: str | None = None) -> Profile:
    """Write a profile atomically (replacing any file at `path`) and return it."""
    profile = Profile(platform, None if config is None else str(config),
                      None if exit_channels is None else int(exit_channels),
                      created or datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      dict(host or {}), tuple(samples))
    profile_from_dict(profile.to_dict(), str(path))   # validate before writing
    write_atomic(Path(path), lambda f: f.write(_lines(profile)), binary=False)
    return profile


def append_sample(path: str | Path, sample: Sample) -> None:
    """Append one sample to an existing profile: one line written and fsynced, nothing
    rewritten (a profile still in the single-document form is turned into lines first)."""
    path = Path(path)
    header = _header(path)
    if header is None:  # a hadas-profile/1 or /2 document: rewrite it as lines, once
        old = read_profile(path)
        write_profile(path, old.platform, old.config, old.exit_channels, old.samples, old.host,
                      old.created)
        header = _header(path)
    # the sample is checked with the header it joins, before anything is written
    profile_from_dict({**(header or {}), "samples": [sample.to_dict()]}, str(path))
    with path.open("r+b") as f:
        f.seek(_end_of_last_line(f))  # a torn last line (a crash mid-append) is replaced
        f.truncate()
        f.write((json.dumps(sample.to_dict()) + "\n").encode())
        f.flush()
        os.fsync(f.fileno())


def read_profile(path: str | Path) -> Profile:
    """Read and validate a profile (either form); ConfigError names the faulty field."""
    text = read_text(path, "profile")
    if _header_of(text) is None:
        return profile_from_dict(parse_json(text, "profile", str(path)), str(path))
    lines = text.split("\n")
    if not text.endswith("\n"):
        lines.pop()  # a torn last line: the append it belonged to never finished
    header = mapping(parse_json(lines[0], "profile", f"{path} line 1"), "profile")
    if "samples" in header:
        raise ConfigError("profile.samples", f"{path}: samples follow the header line, one per "
                          "line, not inside it")
    samples = [parse_json(line, "profile", f"{path} line {i}")
               for i, line in enumerate(lines[1:], start=2) if line.strip()]
    return profile_from_dict({**header, "samples": samples}, str(path))


def _header_of(text: str) -> dict[str, Any] | None:
    """The header of the line form, or None for a single JSON document."""
    first = text.partition("\n")[0]
    try:
        header = json.loads(first)
    except (json.JSONDecodeError, RecursionError):
        return None
    return header if isinstance(header, dict) and header.get("format") == FORMAT else None


def _header(path: Path) -> dict[str, Any] | None:
    with path.open("rb") as f:
        first = f.readline(1 << 20).decode("utf-8", errors="replace")
    return _header_of(first)


def _end_of_last_line(f: BinaryIO, chunk: int = 1 << 16) -> int:
    """Offset just after the file's last newline (reads backwards from the end, not the whole
    file)."""
    end = f.seek(0, os.SEEK_END)
    while end > 0:
        start = max(0, end - chunk)
        f.seek(start)
        found = f.read(end - start).rfind(b"\n")
        if found >= 0:
            return start + found + 1
        end = start
    return 0


def _lines(profile: Profile) -> str:
    return "".join(json.dumps(d) + "\n"
                   for d in (profile.header(), *(s.to_dict() for s in profile.samples)))


def profile_from_dict(data: Any, where: str = "profile") -> Profile:
    """Validate a profile mapping."""
    mapping(data, "profile")
    if data.get("format") not in FORMATS:
        raise ConfigError("profile.format", f"{where}: got {data.get('format')!r}", FORMATS)
    for key in ("platform", "created"):
        text(data.get(key), f"profile.{key}", empty=True)
    config, channels = data.get("config"), data.get("exit_channels")
    if config is not None:
        text(config, "profile.config", empty=True)
    if channels is not None:
        integer(channels, "profile.exit_channels", lo=1)
    host = mapping(data.get("host", {}), "profile.host")
    samples = data.get("samples")
    if not isinstance(samples, list):
        raise ConfigError("profile.samples", "must be a list")
    parsed = tuple(_sample(s, f"profile.samples[{i}]", data["format"])
                   for i, s in enumerate(samples))
    kinds = {s.kind for s in parsed}
    if kinds & {"dynn", "network"} and config is None:
        raise ConfigError("profile.config", "must name the run configuration of its "
                          "dynn and network samples")
    if "dynn" in kinds and channels is None:
        raise ConfigError("profile.exit_channels", "must be set for dynn samples")
    return Profile(data["platform"], config, channels, data["created"], dict(host), parsed)


def _sample(data: Any, where: str, version: str) -> Sample:
    mapping(data, where)
    kind = data.get("kind", "dynn" if version == FORMATS[0] else None)
    if kind not in SAMPLE_KINDS:
        raise ConfigError(f"{where}.kind", f"got {kind!r}", SAMPLE_KINDS)
    dvfs = {str(domain): whole_hz(hz, f"{where}.dvfs.{domain}")
            for domain, hz in mapping(data.get("dvfs"), f"{where}.dvfs").items()}
    if kind == "operation":
        op = Operation.from_dict(data.get("op"), f"{where}.op")
        label = data.get("label")
        if label is not None:
            text(label, f"{where}.label", empty=True)
        return OperationSample(op.to_dict(), dvfs, _measured(data, where), label)
    mapping(data.get("arch"), f"{where}.arch")
    if kind == "network":
        return NetworkSample(dict(data["arch"]), dvfs, _measured(data, where))
    mapping(data.get("exits"), f"{where}.exits")
    segs = data.get("segments")
    if not isinstance(segs, list) or not segs:
        raise ConfigError(f"{where}.segments", "must be a non-empty list")
    return ProfileSample(dict(data["arch"]), dict(data["exits"]), dvfs,
                         tuple(_segment(s, f"{where}.segments[{j}]") for j, s in enumerate(segs)))


def _segment(data: Any, where: str) -> SegmentSample:
    mapping(data, where)
    if data.get("kind") not in SEGMENT_KINDS:
        raise ConfigError(f"{where}.kind", f"got {data.get('kind')!r}", SEGMENT_KINDS)
    index = integer(data.get("index"), f"{where}.index", lo=0)
    m = _measured(data, where)
    return SegmentSample(data["kind"], index, m.latency_ms, m.latency_ms_spread, m.energy_mj,
                         m.energy_unavailable)


def _measured(data: dict[str, Any], where: str) -> Measured:
    latency = number(data.get("latency_ms"), f"{where}.latency_ms", above=0)
    spread = number(data.get("latency_ms_spread", 0.0), f"{where}.latency_ms_spread", lo=0)
    energy, reason = data.get("energy_mj"), data.get("energy_unavailable")
    if energy is None:
        if not isinstance(reason, str) or not reason:
            raise ConfigError(f"{where}.energy_unavailable",
                              "must say why when energy_mj is null")
    else:
        energy = number(energy, f"{where}.energy_mj", above=0)
        if reason is not None:
            raise ConfigError(f"{where}.energy_unavailable", "must be null when energy_mj is set")
    return Measured(latency, float(spread), energy, reason)
