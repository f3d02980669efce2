"""The search: `hadas search` on the embedded default or any config, resumable."""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import json
import math
import platform as platform_module
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from hadas.api.supernet import configure, default_supernet_dir, train_supernet
from hadas.atomic import write_atomic
from hadas.api.board import measured_hardware, remote_hardware
from hadas.config import MAX_SEED, EngineConfig, HadasConfig, config_from_dict
from hadas.errors import ConfigError, HadasError
from hadas.executors import EXECUTORS, create_executor
from hadas.evaluation.measured import MeasuredHardware
from hadas.evaluation.pipeline import build_evaluators
from hadas.hardware import Platform, resolve_platform
from hadas.model import resolve_device
from hadas.report import write_report
from hadas.search.bilevel import BilevelSearch, SearchResult
from hadas.search.breakdown import comparison_backbones, energy_breakdown
from hadas.search.modes import SEARCH_MODES
from hadas.space import ATTENTIVENAS, Backbone, BackboneSpace, resolve_arch
from hadas.space.dynn import ArchiveEntry
from hadas.storage import RunDatabase, run_lock
from hadas.versions import package_versions

EMBEDDED_DEFAULT = "tiny-digits.yaml"
MAX_WORKERS = 1024


def embedded_config() -> Path:
    """configs/tiny-digits.yaml of this checkout (or of the current directory)."""
    for root in (Path(__file__).resolve().parents[3], Path.cwd()):
        path = root / "configs" / EMBEDDED_DEFAULT
        if path.is_file():
            return path
    raise ConfigError("config", f"no config given and configs/{EMBEDDED_DEFAULT} not found")


def search(config: str | Path | HadasConfig | None = None, run_dir: str | Path | None = None,
           mode: str = "hadas", backbones: str | None = None, seed: int | None = None,
           device: str = "auto", progress: bool = True,
           say: Callable[[str], None] = print,
           supernet_dir: str | Path | None = None, executor: str = "serial",
           address: str | None = None, workers: int | None = None,
           supernet: str | Path | None = None, hardware: str | None = None
           ) -> tuple[SearchResult, Path]:
    """Run (or resume) a search; returns the result and the run directory. `supernet`: a
    trained checkpoint (ours, or a published AttentiveNAS/HADAS one) used instead of training
    the config's supernet in `supernet_dir`; exit banks go beside it. `hardware`: overrides
    `search.hardware` (model, measured, remote)."""
    # everything given is checked before the first file is written or network is built
    SEARCH_MODES.get(mode)  # ConfigError naming the registered modes
    base = configure(config if config is not None else embedded_config())
    # the seed reseeds the search; the supernet stays the one trained with the config's seed
    cfg = base if seed is None else dataclasses.replace(base, seed=check_seed(seed))
    if hardware is not None:
        cfg = config_from_dict({**cfg.to_dict(), "search": {**cfg.to_dict()["search"],
                                                             "hardware": hardware}}, cfg.source)
    if cfg.search.hardware == "remote":
        remote_hardware(cfg)  # an unreachable agent or a wrong token stops us here
    ioe_backbones = parse_backbones(BackboneSpace(cfg.supernet), mode, backbones)
    check_executor(executor, address, workers)
    run_dir = Path(run_dir) if run_dir else Path("runs") / cfg.name / f"{mode}-seed{cfg.seed}"
    platform = resolve_platform(cfg.search.platform)
    if supernet is not None and not Path(supernet).is_file():
        raise ConfigError("supernet", f"checkpoint {supernet} not found")
    with run_lock(run_dir):
        return _search(cfg, base, run_dir, mode, backbones, ioe_backbones, device, progress,
                       say, supernet_dir, executor, address, workers, supernet, platform)


def _search(cfg: HadasConfig, base: HadasConfig, run_dir: Path, mode: str,
            backbones: str | None, ioe_backbones: list[Backbone], device: str, progress: bool,
            say: Callable[[str], None], supernet_dir: str | Path | None, executor: str,
            address: str | None, workers: int | None, supernet: str | Path | None,
            platform: Platform) -> tuple[SearchResult, Path]:
    if supernet is not None:
        checkpoint = Path(supernet)
        supernet_dir = checkpoint.resolve().parent
        say(f"supernet: {checkpoint} (given)")
    else:
        supernet_dir = Path(supernet_dir) if supernet_dir else default_supernet_dir(cfg)
        say(f"supernet: {supernet_dir / 'supernet.pt'} (trained on first use, then reused)")
        checkpoint = train_supernet(base, supernet_dir, device, resume=True,
                                    progress=progress).checkpoint
    measured = (None if cfg.search.hardware == "model"
                else functools.partial(measured_hardware, cfg, str(run_dir), device))
    build = functools.partial(build_evaluators, cfg, str(checkpoint), cfg.search.platform,
                              str(supernet_dir / "exits"), device=device, measured=measured)
    evaluators = build(progress=progress and executor == "serial")
    engines: list[BilevelSearch] = []  # the engine, once built: its generations done
    if isinstance(evaluators.hardware, MeasuredHardware):
        say = measured_progress(evaluators.hardware, say, cfg.search.ooe,
                                lambda: len(engines[0].progress) if engines else 0)
    pool = create_executor(executor, build, evaluators, address, workers, local_gpus(device))
    t0 = time.perf_counter()
    with RunDatabase(run_dir) as db, contextlib.closing(pool):
        db.open_run(mode, cfg.fingerprint, cfg.seed,
                    {"config": cfg.to_dict(), "mode": mode, "backbones": backbones})
        engine = BilevelSearch(cfg, evaluators, db, mode, say, pool)
        engines.append(engine)
        search_mode = SEARCH_MODES.get(mode)
        given = (ioe_backbones if search_mode.takes_backbones
                 else attentivenas_backbones(engine.space) or [])
        result = search_mode.start(engine, given)
        breakdown = None
        if search_mode.breakdown:
            say("energy breakdown: reference and found backbones alone, with exits, with "
                   "exits + DVFS")
            breakdown = energy_breakdown(engine, comparison_backbones(engine, result.archive))
        write_result(run_dir, cfg, mode, result, time.perf_counter() - t0, platform,
                     {"checkpoint": str(checkpoint.resolve()),
                      "exits_dir": str((supernet_dir / "exits").resolve()),
                      "device": str(resolve_device(device))}, breakdown,
                     costs_from(evaluators.hardware))
        db.set_status(mode, "finished")
        if isinstance(evaluators.hardware, MeasuredHardware):
            say("search finished")  # with the measurement counts of the whole run
    write_report(run_dir)
    refresh_sibling_reports(run_dir, cfg.seed, say)
    return result, run_dir


def measured_progress(hardware: MeasuredHardware, say: Callable[[str], None],
                      ooe: EngineConfig, generations_done: Callable[[], int]
                      ) -> Callable[[str], None]:
    """`say`, with what the measured backend of this process has measured and reused (the
    workers of a process or Ray executor count their own), at most how many measurements the
    outer engine's remaining generations can still need (each brings at most
    max(population, n_crossover + n_mutation) new backbones, each measured once per clock
    point), and the clocks it cannot set."""
    if hardware.clocks_note:
        say(f"hardware: {hardware.clocks_note}")
    points = math.prod(len(hardware.dvfs_hz[d]) for d in hardware.platform.domains)
    per_generation = max(ooe.population, ooe.n_crossover + ooe.n_mutation) * points

    def say_with_counts(line: str) -> None:
        c = hardware.counts
        left = max(0, ooe.generations - generations_done()) * per_generation
        say(f"{line}; measurements here: {c['measured']} new, {c['reused']} reused from the "
            f"run database, at most {left} left, {c['noisy']} noisy pieces")
    return say_with_counts


def costs_from(hardware: object) -> dict[str, Any]:
    """What costed the DyNNs: the model, or the measuring device and the clocks it could set."""
    if not isinstance(hardware, MeasuredHardware):
        return {"backend": "model"}
    return {"backend": "measured", "device": hardware.identity["device"],
            "dvfs_hz": {d: list(t) for d, t in hardware.dvfs_hz.items()},
            "settable": list(hardware.settable), "clocks_note": hardware.clocks_note,
            "repeats": hardware.repeats, "max_spread": hardware.max_spread}


def check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ConfigError("seed", f"must be an integer in 0..{MAX_SEED}, got {seed!r}")
    return seed


def parse_backbones(space: BackboneSpace, mode: str, backbones: str | None) -> list[Backbone]:
    """The backbones of a mode that takes them (`--mode ioe`; names or JSON archs, `,`- or
    `;`-separated); [] otherwise."""
    if not SEARCH_MODES.get(mode).takes_backbones:
        if backbones:
            raise ConfigError("backbones", f"only mode ioe takes backbones, not mode {mode}")
        return []
    if not backbones or not backbones.strip():
        raise ConfigError("backbones", f"mode {mode} needs backbones, e.g. a0,a6 or max")
    return [resolve_arch(space, a) for a in backbones.split(";" if "{" in backbones else ",")]


def check_executor(executor: str, address: str | None, workers: int | None) -> None:
    EXECUTORS.get(executor)  # ConfigError naming the registered executors
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or not 1 <= workers <= MAX_WORKERS):
        raise ConfigError("workers", f"must be an integer in 1..{MAX_WORKERS}, got {workers!r}")
    if address is not None and executor != "ray":
        raise ConfigError("address", f"only the ray executor takes an address, not {executor}")


def refresh_sibling_reports(run_dir: Path, seed: int, say: Callable[[str], None]) -> None:
    """Rewrite the default reports of the other runs of this seed beside `run_dir`, so that
    their comparisons include this run (one that cannot be rewritten is said, not fatal)."""
    for index in sorted(run_dir.resolve().parent.glob(f"*-seed{seed}/report/index.html")):
        if index.parents[1] != run_dir.resolve():
            try:
                write_report(index.parents[1])
            except HadasError as exc:
                say(f"warning: the report of {index.parents[1]} was not refreshed: {exc}")


def attentivenas_backbones(space: BackboneSpace) -> list[Backbone] | None:
    """a0..a6 when the space holds them all (the CIFAR spaces), else None."""
    try:
        return [space.validate(ATTENTIVENAS[name]) for name in sorted(ATTENTIVENAS)]
    except ConfigError:
        return None


def local_gpus(device: str) -> list[str] | None:
    """One "cuda:i" per local GPU when there are several and the device allows CUDA."""
    import torch

    n = torch.cuda.device_count() if device in ("auto", "cuda") else 0
    return [f"cuda:{i}" for i in range(n)] if n > 1 else None


def write_result(run_dir: Path, cfg: HadasConfig, mode: str, result: SearchResult,
                 seconds: float, platform: Platform, supernet: dict[str, str],
                 breakdown: list[dict[str, Any]] | None = None,
                 costs: dict[str, Any] | None = None) -> None:
    """`result.json` (the archive with everything about each DyNN, and what the run was made
    from: config, supernet (checkpoint, exits_dir, device), platform provenance, software)
    and `result.csv`."""
    payload = {"name": cfg.name, "mode": mode, "seed": cfg.seed, "platform": platform.name,
               "config_fingerprint": cfg.fingerprint, "seconds": round(seconds, 2),
               "config": cfg.to_dict(), "supernet": supernet,
               "hardware": {"platform": platform.name, "description": platform.description,
                            "fingerprint": platform.fingerprint,
                            "source": platform.source, "calibration": platform.calibration,
                            "provenance": {"latency_ms": platform.provenance("latency"),
                                           "energy_mj": platform.provenance("energy")},
                            "costs": costs or {"backend": "model"}},
               "software": software_versions(), "finished": time.time(),
               "hypervolume": result.hypervolume, "reference_point": result.reference_point,
               "evaluations": {"computed": result.stats.computed, "cached": result.stats.cached,
                               "seconds": result.stats.seconds},
               "progress": result.progress, "archive": [e.to_dict() for e in result.archive],
               "breakdown": breakdown, "evaluated": [e.to_dict() for e in result.evaluated],
               "scored": result.scored}
    write_atomic(run_dir / "result.json", lambda f: json.dump(payload, f, indent=1), binary=False)
    write_atomic(run_dir / "result.csv", lambda f: write_csv(f, result.archive), binary=False)


def software_versions() -> dict[str, str]:
    """Versions of Python and of the packages a run's numbers depend on."""
    return {"python": platform_module.python_version(), "os": platform_module.platform(),
            **package_versions("hadas", "torch", "numpy", "pymoo")}


def write_csv(f: IO[str], archive: list[ArchiveEntry]) -> None:
    """One row per DyNN of the archive."""
    w = csv.writer(f)
    w.writerow(["resolution", "width", "depth", "kernel_size", "expand_ratio", "exits",
                "policy", "threshold", "cpu_hz", "gpu_hz", "emc_hz", "top1", "latency_ms",
                "energy_mj", "exit_rates", "latency_provenance", "energy_provenance"])
    for e in archive:
        b, d, exits = e.backbone.to_dict(), e.dynn, e.dynn.plan.to_dict()
        w.writerow([b["resolution"], b["width"], b["depth"], b["kernel_size"],
                    b["expand_ratio"], exits["positions"], exits["policy"], exits["threshold"],
                    d.dvfs_hz.get("cpu"), d.dvfs_hz.get("gpu"), d.dvfs_hz.get("emc"),
                    round(d.top1, 3), round(d.latency_ms, 4), round(d.energy_mj, 4),
                    [round(r, 4) for r in d.exit_rates], d.provenance.get("latency_ms"),
                    d.provenance.get("energy_mj")])
