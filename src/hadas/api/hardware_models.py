"""Hardware models: list and show platforms, estimate costs, import LUTs, calibrate, check."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hadas.api.supernet import configure
from hadas.config import HadasConfig
from hadas.errors import ConfigError
from hadas.hardware import (DEFAULT_PLATFORM, DvfsSetting, HardwareModel, Platform,
                            get_platform, list_platforms, resolve_platform)
from hadas.hardware.calibration import (calibrate, check, check_split, save_calibrated,
                                        split_samples)
from hadas.hardware.lut_import import import_luts
from hadas.hardware.profile_format import Profile, read_profile, write_profile
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
                   platform: str | None = None, exits: str | Sequence[int] | None = None,
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
    model = HardwareModel(resolve_platform(platform or DEFAULT_PLATFORM), channels, precision,
                          mode)
    if isinstance(dvfs, str):
        setting = DvfsSetting.parse(model.platform, dvfs)
    else:
        setting = DvfsSetting.create(model.platform, dvfs, model.mode)
    costs = model.segment_costs(skeleton, plan, setting)
    return {"arch": skeleton.backbone.to_dict(), "mflops": round(skeleton.mflops, 4),
            "exits": plan.to_dict(), "exit_channels": channels, "precision": precision,
            "power_mode": model.mode, **costs.to_dict()}


def _profile_space(prof: Profile, config: str | Path | None) -> BackboneSpace | None:
    """The supernet space of a profile's dynn/network samples (none for operations only)."""
    source = config or prof.config
    if source is None:
        return None
    return BackboneSpace(configure(source).supernet)


def _same_board(profile: Profile, platform: Platform) -> None:
    names = {platform.name, (platform.calibration or {}).get("base_platform", platform.name)}
    if profile.platform not in names:
        raise ConfigError("platform", f"the profile was measured on {profile.platform!r}, "
                          f"not {platform.name!r}", [profile.platform])


def calibrate_platform(platform: str, profile: str | Path, out: str | Path,
                       train_fraction: float = 0.5, seed: int = 0,
                       config: str | Path | None = None, precision: str = "fp32",
                       mode: str | None = None, name: str | None = None) -> dict[str, Any]:
    """Fit `platform` to a measured profile, save the calibrated YAML to `out`; the fit report."""
    check_split(train_fraction, seed)
    prof = read_profile(profile)
    base = resolve_platform(platform)
    _same_board(prof, base)
    result = calibrate(base, prof, _profile_space(prof, config), train_fraction, seed, precision,
                       mode, name)
    path = save_calibrated(result, out, str(profile))
    return {"platform": result.platform.name, "out": str(path), **result.report}


def check_platform(platform: str, profile: str | Path, config: str | Path | None = None,
                   precision: str | None = None, mode: str | None = None,
                   held_out: bool = False) -> dict[str, Any]:
    """Score a platform (shipped or calibrated) on a profile without fitting it; with
    `held_out`, only on the samples its own calibration held out."""
    prof = read_profile(profile)
    p = resolve_platform(platform)
    _same_board(prof, p)
    cal = p.calibration or {}
    samples = None
    if held_out:
        if "seed" not in cal:
            raise ConfigError("held_out", f"{p.name} is not calibrated: no held-out split")
        samples = split_samples(len(prof.samples), cal["train_fraction"], cal["seed"])[1]
    return check(p, prof, _profile_space(prof, config), precision or cal.get("precision", "fp32"),
                 mode or cal.get("power_mode"), samples)


def import_lut(files: Sequence[str | Path], platform: str, out: str | Path,
               resolution: int | None = None) -> dict[str, Any]:
    """Convert per-layer look-up tables into a profile of operation samples at `out`."""
    p = resolve_platform(platform)
    prof = import_luts(list(files), p, resolution)
    write_profile(out, prof.platform, None, None, prof.samples, prof.host, prof.created)
    return {"platform": p.name, "out": str(out), "n_samples": len(prof.samples),
            "dvfs_hz": p.reference_hz(), "assumed": prof.host["assumed"]}
