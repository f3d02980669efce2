"""`hadas profile`: measure every segment of sampled DyNNs at sampled DVFS points into a
`hadas-profile` file, resumably."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hadas.api.board import LOCAL, BoardMeasurer
from hadas.errors import ConfigError
from hadas.hardware.agent import MeasureRequest
from hadas.hardware.dvfs import DvfsControl
from hadas.hardware.measure import Unavailable
from hadas.hardware.profile_format import (ProfileSample, SegmentSample, append_sample,
                                           read_profile, write_profile)
from hadas.hardware.profile_plan import sample_backbones, sample_dvfs_points, sample_exit_plan
from hadas.space import Backbone, ExitPlan


@dataclass(frozen=True)
class ProfileRun:
    """What a `profile` call did: samples measured now, found already there, and in the plan."""

    path: Path
    measured: int
    skipped: int
    planned: int
    dvfs_note: str | None
    energy_unavailable: str | None


def profile(config: str | Path, platform: str = LOCAL, n_archs: int = 8, dvfs_points: int = 4,
            out: str | Path = "profile.jsonl", exit_channels: int | None = None, seed: int = 0,
            repeats: int = 20, device: str = "auto", progress: bool = True,
            sysfs_root: str | Path = "/", warmup: int = 5, energy_window_s: float | None = None,
            dvfs: DvfsControl | None = None) -> ProfileRun:
    """Measure every segment of `n_archs` sampled DyNNs (with min and max) at `dvfs_points`
    DVFS points into a `hadas-profile/1` file; each sample is appended atomically, and a
    rerun of the same command skips the samples already in the file."""
    from tqdm import tqdm

    for name, value, most in (("archs", n_archs, 100_000), ("dvfs_points", dvfs_points, 10_000)):
        if not 1 <= value <= most:
            raise ConfigError(name, f"must be an integer in 1..{most}, got {value}")
    MeasureRequest.check_repeats(repeats, "repeats")
    out = Path(out)
    with BoardMeasurer(config, platform, exit_channels, device, warmup, sysfs_root=sysfs_root,
                       energy_window_s=energy_window_s, dvfs=dvfs) as measurer:
        cfg = measurer.cfg
        # one stream each, so a larger --archs or --dvfs-points extends the same plan
        arch_rng, exit_rng, dvfs_rng = (np.random.default_rng([seed, k]) for k in range(3))
        dynns = [(b, sample_exit_plan(b.n_blocks, cfg.exits.first_exit_block, exit_rng,
                                      cfg.exits.policy, cfg.exits.threshold))
                 for b in sample_backbones(measurer.space, n_archs, arch_rng)]
        points = sample_dvfs_points(measurer.tables, dvfs_points, dvfs_rng)
        plan = [(b, e, p) for p in points for b, e in dynns]  # few clock changes: points outside
        done = _open_profile(out, measurer, str(config))
        pending = [(b, e, p) for b, e, p in plan if _key(b, e, p) not in done]
        bar = tqdm(total=len(plan), initial=len(plan) - len(pending), disable=not progress,
                   desc=f"profile {platform}", unit="sample")
        with bar:
            for backbone, exits, point in pending:
                result = measurer.measure(backbone, exits, point, repeats)
                segs = tuple(SegmentSample(**{k: s[k] for k in SEGMENT_KEYS})
                             for s in result["segments"])
                append_sample(out, ProfileSample(backbone.to_dict(), exits.to_dict(),
                                                 result["dvfs"], segs))
                bar.update()
        energy = measurer.energy
        return ProfileRun(out, len(pending), len(plan) - len(pending), len(plan),
                          measurer.dvfs_note,
                          energy.reason if isinstance(energy, Unavailable) else None)


SEGMENT_KEYS = ("kind", "index", "latency_ms", "latency_ms_spread", "energy_mj",
                "energy_unavailable")


def _key(backbone: Backbone, exits: ExitPlan, dvfs: Mapping[str, int]) -> str:
    return ProfileSample(backbone.to_dict(), exits.to_dict(), dict(dvfs), ()).key


def _open_profile(path: Path, measurer: BoardMeasurer, config: str) -> set[str]:
    """Keys of the samples already in `path`; a new file gets the header. A file made for
    another platform, config or exit width is refused rather than mixed."""
    if not path.exists():
        info = measurer.info()
        write_profile(path, measurer.platform.name, config, measurer.exit_channels,
                      host={**info["host"], "device": info["device"],
                            "energy_sensor": info["sensors"]["energy"],
                            "config_fingerprint": measurer.cfg.fingerprint,
                            "dvfs_note": measurer.dvfs_note})
        return set()
    existing = read_profile(path)
    mine = (measurer.platform.name, config, measurer.exit_channels)
    theirs = (existing.platform, existing.config, existing.exit_channels)
    if mine != theirs:
        raise ConfigError("out", f"{path} holds a profile of (platform, config, exit_channels) "
                          f"= {theirs}, not {mine}; choose another --out")
    # only DyNN samples are resumable; operation and network samples have no key
    return {s.key for s in existing.samples if isinstance(s, ProfileSample)}
