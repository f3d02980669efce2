"""Hardware models: list and show platforms, estimate a DyNN's costs, calibrate a platform."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hadas.api.supernet import configure
from hadas.config import HadasConfig
from hadas.errors import ConfigError
from hadas.hardware import (DEFAULT_PLATFORM, DvfsSetting, HardwareModel, get_platform,
                            list_platforms, resolve_platform)
from hadas.hardware.calibration import calibrate, save_calibrated
from hadas.hardware.profile_format import read_profile
from hadas.space import BackboneSpace, ExitPlan, resolve_arch


def platform_summaries() -> list[dict[str, Any]]:
    """Name, description, default mode and DVFS table sizes of every registered platform."""
    out = []
    for name in list_platforms():
        p = get_platform(name)
        out.append({"name": name, "description": p.description, "default_mode": p.default_mode,
                    "dvfs_points": {d: len(p.dvfs_hz[d]) for d in p.domains},
                    "reference_hz": p.reference_hz()})
    return out


def platform_info(platform: str) -> dict[str, Any]:
    """A platform's whole content (a registered name or a platform YAML path)."""
    p = resolve_platform(platform)
    return {**p.to_dict(), "reference_hz": p.reference_hz(),
            "provenance": {"latency_ms": p.provenance("latency"),
                           "energy_mj": p.provenance("energy")}}


def parse_exits(text: str | Sequence[int] | None) -> tuple[int, ...]:
    """`5,9` (or a sequence) -> exit positions."""
    if text is None:
        return ()
    if isinstance(text, str):
        try:
            return tuple(int(p) for p in text.split(",") if p.strip())
        except ValueError:
            raise ConfigError("exits", f"expected comma-separated block indices, got {text!r}") \
                from None
    return tuple(int(p) for p in text)


def estimate_costs(config: str | Path | HadasConfig, arch: str,
                   platform: str = DEFAULT_PLATFORM, exits: str | Sequence[int] | None = None,
                   exit_channels: int | None = None,
                   dvfs: str | Mapping[str, float] | None = None, precision: str = "fp32",
                   mode: str | None = None) -> dict[str, Any]:
    """Per-segment and total latency_ms / energy_mj of a DyNN at one DVFS point (default: the
    platform's reference clocks), with provenance `modelled` or `calibrated`."""
    cfg = configure(config)
    space = BackboneSpace(cfg.supernet)
    skeleton = space.skeleton(resolve_arch(space, arch))
    plan = ExitPlan(parse_exits(exits)).validate(skeleton.n_blocks, cfg.exits.first_exit_block)
    channels = cfg.exits.exit_channels if exit_channels is None else exit_channels
    if channels < 1:
        raise ConfigError("exit_channels", f"must be >= 1, got {channels}")
    model = HardwareModel(resolve_platform(platform), channels, precision, mode)
    if isinstance(dvfs, str):
        setting = DvfsSetting.parse(model.platform, dvfs)
    else:
        setting = DvfsSetting.create(model.platform, dvfs, model.mode)
    costs = model.segment_costs(skeleton, plan, setting)
    return {"arch": skeleton.backbone.to_dict(), "mflops": round(skeleton.mflops, 4),
            "exits": plan.to_dict(), "exit_channels": channels, "precision": precision,
            "power_mode": model.mode, **costs.to_dict()}


def calibrate_platform(platform: str, profile: str | Path, out: str | Path,
                       train_fraction: float = 0.5, seed: int = 0,
                       config: str | Path | None = None, precision: str = "fp32") -> dict[str, Any]:
    """Fit `platform` to a measured profile, save the calibrated YAML to `out`; the fit report."""
    prof = read_profile(profile)
    base = resolve_platform(platform)
    if prof.platform != base.name:
        raise ConfigError("platform", f"the profile was measured on {prof.platform!r}, "
                          f"not {base.name!r}", [prof.platform])
    cfg = configure(config or prof.config)
    result = calibrate(base, prof, BackboneSpace(cfg.supernet), train_fraction, seed, precision)
    path = save_calibrated(result, out, str(profile))
    return {"platform": base.name, "out": str(path), **result.report.to_dict()}
