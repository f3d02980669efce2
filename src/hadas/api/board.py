"""Board-side work: measure a DyNN's segments on this machine (`BoardMeasurer`), for the device
agent (`serve_agent`) and for profiles (`hadas.api.profiling`); clock pinning and the board's
clock tables come from `hadas.hardware.dvfs`.

Weights are random: latency and energy do not depend on their values. On a Jetson platform the
clocks are pinned through `hadas.hardware.dvfs`; on `local` they are left alone and the results
say so.
"""
from __future__ import annotations

import atexit
import platform as host_platform
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hadas.api.supernet import configure
from hadas.config import HadasConfig
from hadas.errors import ConfigError
from hadas.hardware.agent import (AgentBackend, MeasureRequest, RemoteHardware, read_token,
                                  start_agent)
from hadas.hardware.agent.server import check_port
from hadas.hardware.clocks import parse_clocks
from hadas.hardware.dvfs import DvfsControl
from hadas.hardware.dvfs.pinning import board_tables, pin_clocks
from hadas.hardware.measure import PROVENANCE, Unavailable, energy_source, measure_segments
from hadas.hardware.registry import get_platform
from hadas.space import Backbone, BackboneSpace, ExitPlan
from hadas.storage import RunDatabase

if TYPE_CHECKING:  # torch loads only when a measured search builds its backend
    from hadas.evaluation.measured import MeasuredHardware
    from hadas.hardware import HardwareModel

__all__ = ["LOCAL", "BoardMeasurer", "agent_backend", "board_tables", "connect_agent",
           "measured_hardware",
           "parse_clocks", "pin_clocks", "remote_hardware", "serve_agent"]

LOCAL = "local"
LOCAL_NOTE = "platform local: clocks left alone (no DVFS control), dvfs is {}"


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

        from hadas.exits.segment_modules import segment_modules

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


def connect_agent(url: str, token_file: str | Path) -> RemoteHardware:
    """A device agent's client, asked for its description now: an unreachable agent or a
    wrong token is one clear error before any work."""
    remote = RemoteHardware(url, read_token(token_file))
    remote.described()
    return remote


def remote_hardware(cfg: HadasConfig) -> RemoteHardware:
    """The agent of `search.agent_url` (`connect_agent`)."""
    search = cfg.search
    if search.agent_url is None or search.agent_token_file is None:
        raise ConfigError("search.agent_url", "required for search.hardware remote")
    return connect_agent(search.agent_url, search.agent_token_file)


def measured_hardware(cfg: HadasConfig, run_dir: str, device: str,
                      model: HardwareModel) -> MeasuredHardware:
    """The measured backend of `search.hardware` (measured: this machine; remote: the agent),
    storing every measurement in the run database of `run_dir` as soon as it exists. Built
    in every worker (picklable arguments only)."""
    from hadas.evaluation.measured import MeasuredHardware

    store = RunDatabase(run_dir)  # this process's own connection, closed when it ends
    atexit.register(store.close)
    if cfg.search.hardware == "remote":
        remote = remote_hardware(cfg)
        info = remote.described()
        return MeasuredHardware(remote, {"agent": remote.url, **info}, info["dvfs_hz"], model,
                                cfg.exits.first_exit_block, store, cfg.search.measure_repeats)
    on_board = not model.platform.name.startswith(LOCAL)  # local, local-calibrated: this PC
    measurer = BoardMeasurer(cfg, model.platform.name if on_board else LOCAL,
                             device=device).__enter__()  # owns the clocks on a board
    atexit.register(measurer.__exit__, None, None, None)
    return MeasuredHardware(measurer, measurer.info(), measurer.tables, model,
                            cfg.exits.first_exit_block, store, cfg.search.measure_repeats)

