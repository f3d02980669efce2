"""Per-layer look-up tables in the OFA / Harmonic-NAS key format -> a profile of operations.

Each file maps a layer key to {"lat": ms, "enrg": mJ} (numbers or numeric strings):

    ConvLayer-input:1_C_H_W-in_ch:A-out_ch:B-kernel:K-stride:S-use_se:0-use_bn:0|1
    MBConvLayer-input:1_C_H_W-in_ch:A-out_ch:B-mid_ch:M-expand:E-kernel:K-stride:S-use_se:0|1
    LinearLayer-input:N-in_ch:N-out_ch:M

The OFA block structure (not AttentiveNAS's): an MBConv has a 1x1 expand to M channels (none
when M = 0, expand 1), a KxK depthwise convolution, OFA's squeeze-excite (reduction 4, the
squeezed width a multiple of 8) and a 1x1 projection; a residual add only when A == B and
S == 1, with no 1x1 shortcut convolution.

What the keys do not record, and what is assumed instead (written into the profile's `host`):
- the activation: OFA MobileNetV3's rule, h-swish in the stem, the final expand and feature-mix
  convolutions and every block whose output map is at most 1/16 of the input resolution (the
  last three stages), ReLU elsewhere; the input resolution is the stem's (the ConvLayer with
  3 input channels) of each file;
- the execution: TensorRT, which fuses ReLU and the residual add into the convolution before
  them and runs h-swish as an elementwise kernel of its own (`operations` module docstring);
- the clocks: the board's default power mode at its max clocks (MAXN); the precision: fp32.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hadas.errors import ConfigError
from hadas.files import read_json
from hadas.hardware.operations import Operation
from hadas.hardware.platform import Platform
from hadas.hardware.profile_format import Measured, OperationSample, Profile
from hadas.space.skeleton import make_divisible

_INT = r"(\d{1,6})"
KEY_PATTERNS = {
    "ConvLayer": re.compile(rf"ConvLayer-input:1_{_INT}_{_INT}_{_INT}-in_ch:{_INT}-out_ch:{_INT}"
                            rf"-kernel:{_INT}-stride:{_INT}-use_se:0-use_bn:([01])"),
    "MBConvLayer": re.compile(rf"MBConvLayer-input:1_{_INT}_{_INT}_{_INT}-in_ch:{_INT}"
                              rf"-out_ch:{_INT}-mid_ch:{_INT}-expand:{_INT}-kernel:{_INT}"
                              rf"-stride:{_INT}-use_se:([01])"),
    "LinearLayer": re.compile(rf"LinearLayer-input:{_INT}-in_ch:{_INT}-out_ch:{_INT}"),
}
ASSUMED = ("activation: OFA MobileNetV3 rule (h-swish in the stem, final expand, feature mix "
           "and the blocks at <= 1/16 of the input resolution; ReLU elsewhere); execution: "
           "TensorRT (ReLU and residual add fused, h-swish its own kernel); clocks: the "
           "default power mode's max clocks (not recorded); precision: fp32 (not recorded)")


def _bad(key: str, why: str) -> ConfigError:
    return ConfigError("lut", f"malformed key {key!r}: {why}")


def parse_key(key: str, resolution: int | None = None) -> tuple[Operation, int | None]:
    """The operation a key describes, and the input resolution it implies (its own, for a
    stem), with the activation by the OFA rule when `resolution` is known."""
    kind = key.split("-", 1)[0]
    pattern = KEY_PATTERNS.get(kind)
    match = pattern.fullmatch(key) if pattern else None
    if match is None:
        raise _bad(key, f"expected one of the forms {', '.join(KEY_PATTERNS)} "
                   "(see `hadas.hardware.lut_import`)")
    v = [int(g) for g in match.groups()]
    if kind == "LinearLayer":
        if v[0] != v[1]:
            raise _bad(key, "input and in_ch differ")
        return Operation("linear", v[1], v[2], act="none"), None
    c, h, w, cin, cout = v[:5]
    if c != cin or h != w or h < 1:
        raise _bad(key, "the input must be 1 x in_ch x H x H")
    if kind == "ConvLayer":
        k, s = v[5], v[6]
        _check_conv(key, k, s)
        stem = cin == 3
        return Operation("conv", cin, cout, h, k, s, act="hswish"), (h if stem else None)
    mid, expand, k, s, se = v[5:]
    _check_conv(key, k, s)
    if (mid == 0) != (expand == 1) or (mid and mid != cin * expand):
        raise _bad(key, f"mid_ch {mid} does not match in_ch {cin} x expand {expand}")
    width = mid or cin
    out_size = (h - 1) // s + 1
    if resolution is None:
        raise _bad(key, "no input resolution: the file has no stem ConvLayer (in_ch:3)")
    act = "hswish" if out_size * 16 <= resolution else "relu"
    return Operation("mbconv", cin, cout, h, k, s, mid, bool(se),
                     make_divisible(width // 4, 8) if se else 0, act, add_fused=True), None


def _check_conv(key: str, kernel: int, stride: int) -> None:
    if kernel not in (1, 3, 5, 7) or stride not in (1, 2):
        raise _bad(key, f"kernel {kernel} / stride {stride} (kernels 1, 3, 5, 7; strides 1, 2)")


def _number(value: Any, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number) or number <= 0:
        raise ConfigError("lut", f"{where}: must be a number > 0, got {value!r}")
    return number


def read_lut(path: str | Path) -> dict[str, Any]:
    """One LUT file's mapping; one clear error for a missing, truncated or non-JSON file."""
    data = read_json(path, "lut")
    if not isinstance(data, dict) or not data:
        raise ConfigError("lut", f"{path} must map layer keys to {{'lat', 'enrg'}}")
    return data


def import_luts(paths: Sequence[str | Path], platform: Platform,
                resolution: int | None = None) -> Profile:
    """Every entry of the files as an operation sample at the platform's reference clocks."""
    if not paths:
        raise ConfigError("lut", "give at least one look-up table file")
    dvfs = platform.reference_hz()
    samples = []
    for path in paths:
        data = read_lut(path)
        stems = [parse_key(k)[1] for k in data if k.startswith("ConvLayer")]
        file_resolution = resolution or max((r for r in stems if r), default=None)
        for key, entry in data.items():
            op, _ = parse_key(key, file_resolution)
            where = f"{Path(path).name}: {key}"
            if not isinstance(entry, dict) or not {"lat", "enrg"} <= set(entry):
                raise ConfigError("lut", f"{where}: must be {{'lat': ms, 'enrg': mJ}}")
            measured = Measured(_number(entry["lat"], f"{where}.lat"), 0.0,
                                _number(entry["enrg"], f"{where}.enrg"), None)
            samples.append(OperationSample(op.to_dict(), dict(dvfs), measured, key))
    imported = datetime.now(timezone.utc).isoformat(timespec="seconds")
    host: dict[str, Any] = {"source": [str(p) for p in paths],
                            "measured_by": "per-layer look-up tables (OFA / Harmonic-NAS key "
                            "format), one layer at a time, batch 1",
                            "assumed": ASSUMED, "imported": imported}
    return Profile(platform.name, None, None, imported, host, tuple(samples))
