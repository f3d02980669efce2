"""`Backbone`: one sub-network of the supernet, in the AttentiveNAS "arch config" form."""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hadas.digest import json_digest
from hadas.errors import ConfigError
from hadas.files import parse_json

ARCH_KEYS = ("resolution", "width", "depth", "kernel_size", "expand_ratio")


@dataclass(frozen=True)
class Backbone:
    """Resolution, 9 widths (first_conv, mb1..mb7, last_conv), and per MB stage depth, kernel, expand."""

    resolution: int
    width: tuple[int, ...]
    depth: tuple[int, ...]
    kernel_size: tuple[int, ...]
    expand_ratio: tuple[int, ...]

    def __post_init__(self) -> None:
        for name in ARCH_KEYS[1:]:  # accept lists; store tuples so backbones hash and compare
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for name, n in (("width", 9), ("depth", 7), ("kernel_size", 7), ("expand_ratio", 7)):
            value = getattr(self, name)
            if len(value) != n:
                raise ConfigError(f"arch.{name}", f"needs {n} values, got {len(value)}")

    @property
    def n_blocks(self) -> int:
        """Number of MBConv blocks (sum of depths)."""
        return sum(self.depth)

    def to_dict(self) -> dict[str, Any]:
        return {"resolution": self.resolution, "width": list(self.width), "depth": list(self.depth),
                "kernel_size": list(self.kernel_size), "expand_ratio": list(self.expand_ratio)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @property
    def key(self) -> str:
        """Stable content key (hex) of this backbone."""
        return json_digest(self.to_dict(), sort_keys=False, compact=True)  # = to_json()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Backbone":
        """Parse an arch config; raises ConfigError naming the field on bad input."""
        if not isinstance(data, Mapping):
            raise ConfigError("arch", f"must be a mapping with keys {', '.join(ARCH_KEYS)}")
        for key in data:
            if key not in ARCH_KEYS:
                raise ConfigError(f"arch.{key}", "unknown key", ARCH_KEYS)
        for key in ARCH_KEYS:
            if key not in data:
                raise ConfigError(f"arch.{key}", "missing", ARCH_KEYS)
        res = data["resolution"]
        if not _is_int(res):
            raise ConfigError("arch.resolution", f"must be an integer, got {res!r}")
        lists = {}
        for key in ARCH_KEYS[1:]:
            value = data[key]
            if not isinstance(value, (list, tuple)) or not all(_is_int(v) for v in value):
                raise ConfigError(f"arch.{key}", f"must be a list of integers, got {value!r}")
            lists[key] = tuple(int(v) for v in value)
        return cls(resolution=int(res), **lists)

    @classmethod
    def from_json(cls, text: str) -> "Backbone":
        return cls.from_dict(parse_json(text, "arch", "inline JSON"))


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) or (isinstance(v, float) and v.is_integer())
