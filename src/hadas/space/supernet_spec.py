"""The `supernet_config` block of HADAS/AttentiveNAS YAML files, validated into a `SupernetSpec`.

The block is accepted exactly as the original files write it: stage keys `first_conv`,
`mb1` ... `mb7`, `last_conv`, each with `c` (candidate widths), `d` (depths), `k` (kernels),
`t` (expand ratios), `s` (stride), `act_func` and `se`; plus `use_v3_head` and `resolutions`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hadas.errors import ConfigError

MB_STAGES = tuple(f"mb{i}" for i in range(1, 8))
STAGES = ("first_conv", *MB_STAGES, "last_conv")
ACTIVATIONS = ("swish", "relu", "relu6", "h_swish")
# The HADAS genome searches the expand ratio of mb2..mb5 only; mb1, mb6 and mb7 have one value.
SEARCHED_EXPAND_STAGES = ("mb2", "mb3", "mb4", "mb5")
_MB_KEYS = {"c", "d", "k", "t", "s", "act_func", "se"}
_STEM_KEYS = {"c", "s", "act_func"}
_HEAD_KEYS = {"c", "act_func"}
_TOP_KEYS = {"use_v3_head", "resolutions", *STAGES}
# upper bounds that keep a typo from asking for terabytes (AttentiveNAS: 288 px, 1984 channels)
MAX_RESOLUTION = 1024
MAX_WIDTH = 8192
MAX_DEPTH = 32
MAX_KERNEL = 15
MAX_EXPAND = 16


@dataclass(frozen=True)
class StageSpec:
    """Candidate choices of one stage. `depths`/`kernels`/`expand_ratios` are () for first/last conv."""

    name: str
    widths: tuple[int, ...]
    depths: tuple[int, ...] = ()
    kernels: tuple[int, ...] = ()
    expand_ratios: tuple[int, ...] = ()
    stride: int = 1
    act_func: str = "swish"
    se: bool = False


@dataclass(frozen=True)
class SupernetSpec:
    """A validated supernet configuration: 9 stages (first_conv, mb1..mb7, last_conv)."""

    resolutions: tuple[int, ...]
    stages: tuple[StageSpec, ...]
    n_classes: int
    use_v3_head: bool = True

    @property
    def first_conv(self) -> StageSpec:
        return self.stages[0]

    @property
    def mb_stages(self) -> tuple[StageSpec, ...]:
        return self.stages[1:8]

    @property
    def last_conv(self) -> StageSpec:
        return self.stages[8]

    @property
    def max_blocks(self) -> int:
        """Number of MBConv blocks held by the supernet (sum of the largest depths)."""
        return sum(max(s.depths) for s in self.mb_stages)

    @classmethod
    def from_config(cls, block: Mapping[str, Any], n_classes: int,
                    where: str = "supernet_config") -> "SupernetSpec":
        """Validate an original `supernet_config` mapping; raise ConfigError naming the field."""
        if not isinstance(block, Mapping):
            raise ConfigError(where, "must be a mapping of stages", STAGES)
        _reject_unknown(block, _TOP_KEYS, where)
        for stage in STAGES:
            if stage not in block:
                raise ConfigError(f"{where}.{stage}", "missing stage", STAGES)
        if not isinstance(n_classes, int) or isinstance(n_classes, bool) or n_classes < 2:
            raise ConfigError("data.n_classes", f"must be an integer >= 2, got {n_classes!r}")
        resolutions = _int_list(block.get("resolutions"), f"{where}.resolutions", 8, MAX_RESOLUTION)
        use_v3_head = block.get("use_v3_head", True)
        if use_v3_head is not True:
            raise ConfigError(f"{where}.use_v3_head", f"got {use_v3_head!r}; only the MobileNetV3 head "
                              "of AttentiveNAS is implemented", ["True"])
        stages = tuple(_stage(name, block[name], f"{where}.{name}") for name in STAGES)
        return cls(resolutions=resolutions, stages=stages, n_classes=n_classes, use_v3_head=True)

    def to_config(self) -> dict[str, Any]:
        """The original `supernet_config` mapping (round trip of `from_config`)."""
        out: dict[str, Any] = {"use_v3_head": self.use_v3_head, "resolutions": list(self.resolutions)}
        for st in self.stages:
            entry: dict[str, Any] = {"c": list(st.widths)}
            if st.depths:
                entry.update(d=list(st.depths), k=list(st.kernels),
                             t=list(st.expand_ratios), se=st.se)
            if st.name != "last_conv":
                entry["s"] = st.stride
            entry["act_func"] = st.act_func
            out[st.name] = entry
        return out


def _reject_unknown(block: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in block:
        if key not in allowed:
            raise ConfigError(f"{where}.{key}", "unknown key", sorted(allowed))


def _int_list(value: Any, field: str, minimum: int, maximum: int) -> tuple[int, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str) or not value:
        raise ConfigError(field, f"must be a non-empty list of integers, got {value!r}")
    out = []
    for v in value:
        if not isinstance(v, int) or isinstance(v, bool) or not minimum <= v <= maximum:
            raise ConfigError(field, f"every value must be an integer in {minimum}..{maximum}, "
                              f"got {v!r}")
        out.append(v)
    if len(set(out)) != len(out):
        raise ConfigError(field, f"values must be distinct, got {list(value)}")
    return tuple(sorted(out))


def _stage(name: str, block: Any, where: str) -> StageSpec:
    is_mb = name.startswith("mb")
    keys = _MB_KEYS if is_mb else _STEM_KEYS if name == "first_conv" else _HEAD_KEYS
    if not isinstance(block, Mapping):
        raise ConfigError(where, "must be a mapping", sorted(keys))
    _reject_unknown(block, keys, where)
    widths = _int_list(block.get("c"), f"{where}.c", 1, MAX_WIDTH)
    act = block.get("act_func", "swish")
    if act not in ACTIVATIONS:
        raise ConfigError(f"{where}.act_func", f"unknown activation {act!r}", ACTIVATIONS)
    stride = block.get("s", 1)
    if stride not in (1, 2) or isinstance(stride, bool):
        raise ConfigError(f"{where}.s", f"got {stride!r}", [1, 2])
    if not is_mb:
        return StageSpec(name=name, widths=widths, stride=stride, act_func=act)
    depths = _int_list(block.get("d"), f"{where}.d", 1, MAX_DEPTH)
    kernels = _int_list(block.get("k"), f"{where}.k", 1, MAX_KERNEL)
    for k in kernels:
        if k % 2 == 0:
            raise ConfigError(f"{where}.k", f"kernel sizes must be odd, got {k}", [3, 5, 7])
    ratios = _int_list(block.get("t"), f"{where}.t", 1, MAX_EXPAND)
    if name not in SEARCHED_EXPAND_STAGES and len(ratios) != 1:
        raise ConfigError(f"{where}.t", f"the HADAS encoding fixes the expand ratio of {name}; "
                          f"give exactly one value, got {list(ratios)}")
    se = block.get("se", False)
    if not isinstance(se, bool):
        raise ConfigError(f"{where}.se", f"got {se!r}", ["True", "False"])
    return StageSpec(name=name, widths=widths, depths=depths, kernels=kernels,
                     expand_ratios=ratios,
                     stride=stride, act_func=act, se=se)
