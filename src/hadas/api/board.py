"""Board-side work: build a DyNN's segments as torch modules and measure them on this machine,
for the device agent (`serve_agent`) and for profiles (`profile`).

Weights are random: latency and energy do not depend on their values. On a Jetson platform the
clocks are pinned through `hadas.hardware.dvfs`; on `local` they are left alone and the results
say so.
"""
from __future__ import annotations

import contextlib
import platform as host_platform
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from hadas.api.supernet import configure
from hadas.config import HadasConfig
from hadas.errors import ConfigError
from hadas.hardware.agent import AgentBackend, MeasureRequest, read_token, start_agent
from hadas.hardware.agent.server import check_port
from hadas.hardware.dvfs import DvfsControl
from hadas.hardware.measure import PROVENANCE, Unavailable, energy_source, measure_segments
from hadas.hardware.profile_format import (ProfileSample, SegmentSample, append_sample,
                                           read_profile, write_profile)
from hadas.hardware.registry import get_platform
from hadas.space import Backbone, BackboneSpace, ExitPlan, candidate_positions, segments

if TYPE_CHECKING:
    from torch import nn

LOCAL = "local"
LOCAL_NOTE = "platform local: clocks left alone (no DVFS control), dvfs is {}"


def segment_modules(cfg: HadasConfig, backbone: Backbone, plan: ExitPlan, exit_channels: int,
                    device: str = "cpu") -> list[tuple[str, int, "nn.Module"]]:
    """`(kind, index, module)` in `hadas.space.segments` order, with random weights.

    A backbone segment is its blocks, after the stem for the first one and before the head and
    classifier for the last one. Inputs are fed at the sub-network's resolution, so the stem's
    resize is a no-op and left out."""
    from torch import nn

    from hadas.exits import ExitHead
    from hadas.model import SubNetwork

    skeleton = BackboneSpace(cfg.supernet).skeleton(backbone)
    spec = cfg.supernet
    net = SubNetwork(skeleton, spec.first_conv.act_func, spec.last_conv.act_func,
                     bn_eps=cfg.model.bn_eps, bn_momentum=cfg.model.bn_momentum)
    parts = segments(skeleton, plan, exit_channels)
    n_backbone = sum(s.kind == "backbone" for s in parts)
    out: list[tuple[str, int, nn.Module]] = []
    for seg in parts:
        if seg.kind == "backbone":
            layers: list[nn.Module] = [net.stem] if seg.index == 0 else []
            layers += [net.blocks[b] for b in seg.blocks]
            if seg.index == n_backbone - 1:
                layers += [net.head, net.dropout, net.classifier]
            module: nn.Module = nn.Sequential(*layers)
        else:
            block = skeleton.blocks[plan.positions[seg.index]]
            module = ExitHead(block.out_channels, exit_channels, skeleton.n_classes,
                              min(3, block.out_size))
        out.append((seg.kind, seg.index, module.to(device).eval()))
    return out


class BoardMeasurer:
    """Measures DyNNs of one config on this machine at DVFS points of one platform.

    Use as a context manager: on a Jetson platform it owns the clocks (restored on exit and on
    SIGINT/SIGTERM). `tables` holds the frequencies it may set: the platform's table entries
    that the board also lists; {} on `local`."""

    def __init__(self, config: str | Path | HadasConfig, platform: str = LOCAL,
                 exit_channels: int | None = None, device: str = "auto", warmup: int = 10,
                 sysfs_root: str | Path = "/", dry_run: bool = False, settle_s: float = 1.0,
                 energy_window_s: float | None = None, dvfs: DvfsControl | None = None):
        self.cfg = configure(config)
        self.space = BackboneSpace(self.cfg.supernet)
        self.platform = get_platform(platform)
        self.exit_channels = exit_channels or self.cfg.exits.exit_channels
        from hadas.model import resolve_device

        self.device = resolve_device(device)
        self.warmup = warmup
        self.energy_window_s = energy_window_s
        self.energy = energy_source(self.device.type, sysfs_root)
        self.dvfs: DvfsControl | None = None
        self.tables: dict[str, tuple[int, ...]] = {}
        if platform != LOCAL:
            self.dvfs = dvfs or DvfsControl(sysfs_root, dry_run=dry_run, settle_s=settle_s)
            board = self.dvfs.tables()
            self.tables = {d: tuple(f for f in self.platform.dvfs_hz[d] if f in board[d])
                           for d in self.platform.domains if d in board}
            if not self.tables:
                reasons = "; ".join(f"{d}: {r}" for d, r in self.dvfs.missing.items())
                raise ConfigError("platform", f"{platform}: no clock of this board can be set "
                                  f"({reasons}); is this the board, are you root?")

    @property
    def dvfs_note(self) -> str | None:
        if self.dvfs is None:
            return LOCAL_NOTE
        if self.dvfs.dry_run:
            return "dry-run: clock writes printed, not done; results are at the current clocks"
        return None

    def info(self) -> dict[str, Any]:
        import torch

        energy = self.energy
        return {"config": {"name": self.cfg.name, "fingerprint": self.cfg.fingerprint},
                "exit_channels": self.exit_channels, "device": str(self.device),
                "dvfs_note": self.dvfs_note,
                "dvfs_unavailable": dict(self.dvfs.missing) if self.dvfs else {},
                "sensors": {"energy": None if isinstance(energy, Unavailable) else energy.source,
                            "energy_unavailable": energy.reason
                            if isinstance(energy, Unavailable) else None},
                "host": {"machine": host_platform.machine(), "node": host_platform.node(),
                         "python": host_platform.python_version(), "torch": torch.__version__,
                         "torch_threads": torch.get_num_threads()}}

    def validate(self, backbone: Backbone, plan: ExitPlan) -> None:
        """ConfigError unless the backbone is in the config's space and the exits are candidates."""
        self.space.validate(backbone)
        plan.validate(backbone.n_blocks, self.cfg.exits.first_exit_block)

    def measure(self, backbone: Backbone, plan: ExitPlan, dvfs: Mapping[str, int],
                repeats: int) -> dict[str, Any]:
        """Pin `dvfs` (Hz), then measure every segment; returns the applied clocks and segments."""
        self.validate(backbone, plan)
        applied: dict[str, int] = {}
        if dvfs:
            if self.dvfs is None:
                raise ConfigError("dvfs", LOCAL_NOTE)
            applied = self.dvfs.apply(dvfs)
            if self.dvfs.dry_run:  # nothing was set: the record must not claim these clocks
                applied = {}
        import torch

        mods = segment_modules(self.cfg, backbone, plan, self.exit_channels, str(self.device))
        gen = torch.Generator().manual_seed(0)
        res = backbone.resolution
        x = torch.randn(1, 3, res, res, generator=gen).to(self.device)
        rows = measure_segments(mods, x, self.energy, repeats, self.warmup, self.energy_window_s)
        return {"dvfs": applied, "dvfs_note": self.dvfs_note, "provenance": PROVENANCE,
                "device": str(self.device), "segments": [r.to_dict() for r in rows]}

    def restore_clocks(self) -> None:
        if self.dvfs is not None:
            self.dvfs.restore()

    def __enter__(self) -> "BoardMeasurer":
        if self.dvfs is not None:
            self.dvfs.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.dvfs is not None:
            self.dvfs.__exit__(exc_type, exc, tb)


def agent_backend(measurer: BoardMeasurer, default_repeats: int = 50) -> AgentBackend:
    """The agent's view of a measurer; clocks go back to their originals after every request."""

    def measure(request: MeasureRequest) -> dict[str, Any]:
        try:
            return measurer.measure(request.backbone, request.exits, request.dvfs, request.repeats)
        finally:
            measurer.restore_clocks()

    return AgentBackend(measurer.platform.name, measurer.info(), measurer.tables,
                        lambda r: measurer.validate(r.backbone, r.exits), measure, default_repeats)


def serve_agent(config: str | Path | HadasConfig, platform: str, token_file: str | Path,
                host: str = "127.0.0.1", port: int = 8765, exit_channels: int | None = None,
                device: str = "auto", repeats: int = 50, sysfs_root: str | Path = "/") -> None:
    """Run the device agent until SIGINT/SIGTERM; the clocks are restored either way."""
    check_port(port)  # before the token, the model or the clocks are touched
    MeasureRequest.check_repeats(repeats, "repeats")
    token = read_token(token_file)
    with BoardMeasurer(config, platform, exit_channels, device, sysfs_root=sysfs_root) as measurer:
        server = start_agent(agent_backend(measurer, repeats), token, host, port)
        print(f"hadas agent: {platform} ({measurer.info()['config']['name']}) on {server.url}; "
              f"DVFS domains {sorted(measurer.tables) or 'none (clocks left alone)'}", flush=True)
        try:
            server.serve_forever()
        finally:
            server.server_close()


# -- profiles --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProfileRun:
    """What a `profile` call did: samples measured now, found already there, and in the plan."""

    path: Path
    measured: int
    skipped: int
    planned: int
    dvfs_note: str | None
    energy_unavailable: str | None


def sample_backbones(space: BackboneSpace, n: int, rng: np.random.Generator) -> list[Backbone]:
    """`n` distinct backbones: the smallest, the largest, then uniform draws."""
    out = [space.smallest(), space.largest()][:n]
    attempts = 0
    while len(out) < min(n, space.size) and attempts < 100 * n:
        b = space.sample(rng)
        attempts += 1
        if b not in out:
            out.append(b)
    return out


def sample_exit_plan(n_blocks: int, first_exit_block: int, rng: np.random.Generator,
                     policy: str = "max_softmax", threshold: float = 0.8) -> ExitPlan:
    """1 .. max(1, candidates - 1) exits at distinct candidate positions (HADAS); none when the
    backbone is too short to have candidates."""
    candidates = candidate_positions(n_blocks, first_exit_block)
    if not candidates:
        return ExitPlan((), policy, threshold)
    k = int(rng.integers(1, max(1, len(candidates) - 1) + 1))
    positions = rng.choice(np.array(candidates), size=k, replace=False)
    return ExitPlan(tuple(int(p) for p in positions), policy, threshold)


def sample_dvfs_points(tables: Mapping[str, tuple[int, ...]], m: int,
                       rng: np.random.Generator) -> list[dict[str, int]]:
    """The max clocks, then distinct uniform draws from the tables; [{}] without tables."""
    if not tables:
        return [{}]
    n_points = int(np.prod([len(t) for t in tables.values()]))
    out = [{d: t[-1] for d, t in tables.items()}]
    while len(out) < min(m, n_points):
        point = {d: int(t[rng.integers(len(t))]) for d, t in tables.items()}
        if point not in out:
            out.append(point)
    return out


def profile(config: str | Path, platform: str = LOCAL, n_archs: int = 8, dvfs_points: int = 4,
            out: str | Path = "profile.json", exit_channels: int | None = None, seed: int = 0,
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


def parse_clocks(text: str) -> dict[str, int]:
    """`cpu=HZ,gpu=HZ,emc=HZ` (any subset; exponents allowed, e.g. 1.377e9) into Hz."""
    from hadas.hardware.clocks import clock_hz

    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        domain, sep, number = part.partition("=")
        if not sep:
            raise ConfigError("set", f"expected DOMAIN=HZ with a whole number of Hz, "
                              f"got {part!r}")
        name = domain.strip()
        hz = clock_hz(f"set {name}", number.strip())  # finite, in range: int() is safe
        if hz != int(hz):
            raise ConfigError(f"set {name}", f"{number.strip()!r} is not a whole number of Hz")
        out[name] = int(hz)
    return out


MAX_HOLD_S = 7 * 24 * 3600.0


def pin_clocks(setting: Mapping[str, int], hold_s: float | None = None, dry_run: bool = False,
               sysfs_root: str | Path = "/") -> dict[str, int]:
    """Pin clocks, hold them `hold_s` seconds (None: until Ctrl-C / SIGTERM), restore them.
    Returns what the board reported while pinned."""
    import time

    if hold_s is not None and not 0 < hold_s <= MAX_HOLD_S:  # NaN fails too
        raise ConfigError("hold_s", f"must be a number of seconds in (0, {MAX_HOLD_S:g}], got "
                          f"{hold_s}")
    with DvfsControl(sysfs_root, dry_run=dry_run) as dvfs:
        applied = dvfs.apply(setting)
        print(f"{'dry-run: would pin' if dry_run else 'pinned'} "
              + ", ".join(f"{d}={hz}" for d, hz in applied.items()), flush=True)
        if not dry_run:
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends the hold; clocks restored
                time.sleep(hold_s) if hold_s is not None else threading.Event().wait()
    return applied


def board_tables(sysfs_root: str | Path = "/") -> dict[str, Any]:
    """The clock domains this board exposes (Hz) and, for each missing one, why."""
    dvfs = DvfsControl(sysfs_root)
    return {"dvfs_hz": {d: list(t) for d, t in dvfs.tables().items()}, "missing": dvfs.missing}
