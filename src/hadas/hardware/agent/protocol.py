"""The agent's wire format: a request is data (an arch, an exit plan, clocks), never code."""
from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hadas.errors import ConfigError, HadasError
from hadas.space import Backbone, ExitPlan

API = "/v1"
MAX_REPEATS = 1000
MAX_JSON_DEPTH = 64  # a request nests 3 deep; deeper bodies are refused before json.loads
REQUEST_KEYS = ("arch", "exits", "dvfs", "repeats")


class RequestError(HadasError):
    """A request the agent refuses; `status` is the HTTP status it answers with."""

    def __init__(self, status: int, reason: str):
        self.status = status
        super().__init__(reason)


@dataclass(frozen=True)
class MeasureRequest:
    """One DyNN at one DVFS point: `dvfs` maps domain -> Hz ({} leaves the clocks alone)."""

    backbone: Backbone
    exits: ExitPlan
    dvfs: dict[str, int]
    repeats: int

    def to_json(self) -> dict[str, Any]:
        return {"arch": self.backbone.to_dict(), "exits": self.exits.to_dict(),
                "dvfs": dict(self.dvfs), "repeats": self.repeats}

    @staticmethod
    def check_repeats(value: Any, field: str = "repeats") -> int:
        """`value` if it is an integer in 1..MAX_REPEATS, else ConfigError naming `field`."""
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_REPEATS:
            raise ConfigError(field, f"must be an integer in 1..{MAX_REPEATS}, got {value!r}")
        return value


# a string, or an unterminated one up to the end: never fails, so the scan stays linear
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"?', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(body: bytes) -> int:
    """How deep the arrays/objects of `body` nest, without parsing it (brackets inside strings
    do not count); cheap enough to run before json.loads, which recurses once per level."""
    depth = deepest = 0
    for byte in _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS):
        depth += 1 if byte in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def check_dvfs(dvfs: Any, tables: Mapping[str, Sequence[int]], platform: str) -> dict[str, int]:
    """Every domain must be one the platform controls and every value one of its table's, in Hz."""
    if not isinstance(dvfs, Mapping):
        raise ConfigError("dvfs", f"must be a mapping of domain to Hz, got {type(dvfs).__name__}")
    out = {}
    for name, value in dvfs.items():
        if name not in tables:
            raise ConfigError(f"dvfs.{name}", f"platform {platform} cannot set this domain",
                              sorted(tables) or "none: clocks are left alone")
        if isinstance(value, bool) or not isinstance(value, int) or value not in tables[name]:
            raise ConfigError(f"dvfs.{name}", f"{value!r} Hz is not in the {platform} table",
                              tables[name])
        out[name] = value
    return out


def parse_measure_request(body: bytes, tables: Mapping[str, Sequence[int]], platform: str,
                          default_repeats: int) -> MeasureRequest:
    """Decode and check a request body; any problem is a RequestError(400) naming the field."""
    if json_depth(body) > MAX_JSON_DEPTH:
        raise RequestError(400, f"malformed JSON body: nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # also bad UTF-8 and ints over 4300 digits
        raise RequestError(400, f"malformed JSON body: {exc}") from None
    try:
        if not isinstance(data, dict):
            raise ConfigError("body", "must be a JSON object", REQUEST_KEYS)
        unknown = sorted(set(data) - set(REQUEST_KEYS))
        if unknown:
            raise ConfigError(unknown[0], "unknown key", REQUEST_KEYS)
        if "arch" not in data or "exits" not in data:
            raise ConfigError("arch" if "arch" not in data else "exits", "missing", REQUEST_KEYS)
        backbone = Backbone.from_dict(data["arch"])
        exits = data["exits"]
        if not isinstance(exits, dict) or not isinstance(exits.get("positions"), list):
            raise ConfigError("exits", "must be an ExitPlan mapping with a positions list")
        plan = ExitPlan.from_dict(exits)
        repeats = MeasureRequest.check_repeats(data.get("repeats", default_repeats))
        dvfs = check_dvfs(data.get("dvfs", {}), tables, platform)
    except (ConfigError, TypeError, ValueError, OverflowError) as exc:  # e.g. int(1e400)
        raise RequestError(400, str(exc)) from None
    return MeasureRequest(backbone, plan, dvfs, repeats)
