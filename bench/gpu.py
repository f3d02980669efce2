"""Every CUDA path of hadas, measured in one run on one NVIDIA GPU (H100/H200: under 8 minutes).

    .venv/bin/python bench/gpu.py                          # on a machine with a CUDA GPU
    .venv/bin/python bench/gpu.py --device cpu --quick     # here: every code path, tiny sizes
    .venv/bin/python bench/gpu.py --sections backbone_eval,latency_energy [--batch 32]

Without a CUDA device and without `--device cpu` it prints one line and exits 0. Each section
is one function; a failing section prints its error and the others still run; the exit status
is 1 if any section failed. Every figure is **measured** by this run on the device named in
each table's title (torch.cuda.get_device_name), on synthetic data of the right shape and
randomly initialised weights: throughput, latency and energy do not depend on weight values.

This script never changes GPU clocks or settings (no `nvidia-smi -lgc`, no persistence mode, no
DVFS writes): the GPU runs at whatever its driver chooses, and the header reads (read-only,
through NVML when `nvidia-ml-py` is installed) the SM clock and power limit it found. NVML's
energy counter is read as `hadas.hardware.measure` reads it (`pip install -e '.[gpu]'`
installs `nvidia-ml-py`; without it the energy column says so).

Sections and what their figures mean:

1. `supernet_training`: the CIFAR-100 supernet of configs/hadas-cifar100.yaml trained by
   hadas's own `train_supernet` (sandwich rule: largest at 288 px, smallest at 192 px and
   `num_random_subnets` random sub-networks per step, in-place distillation, fp16 autocast +
   GradScaler on CUDA as `train.mixed_precision` says) for 2 epochs over synthetic 32x32 CIFAR
   images (the network resizes them, as it does CIFAR). Epoch 1 is warm-up; epoch 2 gives
   s/step and images/s (training images per second; each goes through every sub-network of
   the step), and the implied time of one CIFAR-100 epoch (50,000 images) and of
   `train.epochs` on this one device. Then one sub-network pass (forward + backward under the
   same autocast) of the largest and smallest widths at each resolution 192..288.
2. `backbone_eval`: forward throughput (images/s) of backbone evaluation as hadas does it
   (extract a0/a6, re-estimate BN, then `top1_accuracy`: fp32, channels_last weights) against
   the same sub-network with contiguous weights in fp32 and under bf16 autocast, and with
   channels_last inputs in fp32 and bf16; same batches, side by side, ratio to hadas's way.
3. `exit_training`: images/s of `hadas.exits.train_exits` (every candidate head of one
   backbone, backbone frozen) for a0 and a6, and the implied hours of the HADAS protocol
   (70 backbones x 30 epochs x 50,000 CIFAR-100 images); then shared exit training
   (`hadas.exits.shared`, once for the whole supernet) and its implied hours for 30 epochs x
   50,000 images, against the 70-backbone total.
4. `latency_energy` (CUDA only): batch-1 latency (median of CUDA events, traced module) and
   NVML energy per image of a0 and a6 at 192 and 288 px, through `BoardMeasurer` on the
   `local` platform (which never touches clocks); also the eager module's latency by
   `time_module`. NVML measures the whole GPU board, idle power included.
5. `search`: the embedded default (configs/tiny-digits.yaml) trained (`api.train_supernet`),
   then `api.search` with 2 outer generations on this device; wall times and phases.
6. `export`: `api.export_dynn` of DyNN 0 of that run on this device (TorchScript program
   checked on the evaluation split, ONNX pieces checked with onnxruntime); wall time.

`--quick` shrinks every size (batch 2, one step, tiny search budgets) so that the code paths run
on a 2-core CPU in a few minutes; its figures only show that the paths run.
"""
from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hadas.config import HadasConfig, load_config
from hadas.data import DataSplits, ImageTensors
from hadas.model import Supernet, create_supernet
from hadas.space import BackboneSpace, reference_backbone

ROOT = Path(__file__).resolve().parents[1]
CIFAR_CONFIG = ROOT / "configs" / "hadas-cifar100.yaml"
TINY_CONFIG = ROOT / "configs" / "tiny-digits.yaml"
CIFAR_SIZE = 32                      # CIFAR images as stored; the network resizes them
CIFAR_TRAIN_IMAGES = 50_000          # CIFAR-100 training split
HADAS_BACKBONES, HADAS_EXIT_EPOCHS = 70, 30  # the HADAS protocol: exits of 70 backbones
ARCHS = ("a0", "a6")


class Skipped(Exception):
    """A section that cannot run on this device; the message says why (not a failure)."""


@dataclass(frozen=True)
class Sizes:
    """How much each section runs: the full sizes on a GPU, tiny ones with --quick."""

    train_batch: int | None    # supernet training batch (None: train.batch_size)
    train_steps: int           # steps per timed epoch
    pass_repeats: int          # timed sub-network passes per resolution
    pass_warmup: int
    eval_batch: int | None     # None: evaluation.batch_size
    eval_batches: int          # evaluation-split batches per timed pass
    bn_batches: int | None     # None: evaluation.bn_calibration_batches (x _size)
    bn_batch: int | None
    eval_repeats: int          # timed passes (median) after one warm-up pass
    exit_batch: int | None     # None: exits.batch_size
    exit_steps: int            # steps per timed epoch
    latency_repeats: int
    latency_warmup: int


FULL = Sizes(train_batch=None, train_steps=10, pass_repeats=5, pass_warmup=2, eval_batch=None,
             eval_batches=8, bn_batches=None, bn_batch=None, eval_repeats=3, exit_batch=None,
             exit_steps=20, latency_repeats=50, latency_warmup=10)
QUICK = Sizes(train_batch=2, train_steps=1, pass_repeats=1, pass_warmup=0, eval_batch=2,
              eval_batches=2, bn_batches=1, bn_batch=2, eval_repeats=1, exit_batch=2,
              exit_steps=1, latency_repeats=5, latency_warmup=1)


@dataclass
class TinyRun:
    """The embedded default trained and searched once, shared by `search` and `export`."""

    run_dir: Path
    train_s: float
    search_s: float
    cfg: HadasConfig
    result: Any  # hadas.search.bilevel.SearchResult


@dataclass
class Bench:
    """What every section gets: the device, the sizes, a temporary folder, the shared run."""

    device: torch.device
    quick: bool
    sizes: Sizes
    batch: int | None
    tmp: Path
    where: str
    tiny: TinyRun | None = field(default=None)

    def title(self, what: str) -> str:
        return f"{what}: measured on {self.where}"


# ---------------------------------------------------------------- helpers


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn: Callable[[], object], device: torch.device, repeats: int,
                   warmup: int) -> float:
    """Median wall seconds of `repeats` calls of `fn` after `warmup` untimed ones (synchronised)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    print(f"\n**{title}**\n")
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")


def autocast(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager[object]:
    """torch.autocast to `dtype` on the device's type, or nothing (fp32) when `dtype` is None."""
    if dtype is None:
        return nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def synthetic_splits(n_train: int, n_test: int, n_classes: int, size: int = CIFAR_SIZE,
                     seed: int = 0) -> DataSplits:
    """Random uint8 images and labels in hadas's in-memory form (CIFAR's shape by default)."""
    gen = torch.Generator().manual_seed(seed)

    def split(n: int) -> ImageTensors:
        images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=gen)
        return ImageTensors(images, torch.randint(0, n_classes, (n,), generator=gen))

    return DataSplits("synthetic", split(n_train), None, split(n_test), n_classes,
                      (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))


def cifar_config() -> HadasConfig:
    return load_config(CIFAR_CONFIG)


def fresh_supernet(cfg: HadasConfig, device: torch.device) -> Supernet:
    """A seeded, randomly initialised supernet on `device` in channels_last (as hadas trains it)."""
    torch.manual_seed(0)
    return create_supernet(cfg).to(device).to(memory_format=torch.channels_last)


def num(x: float) -> str:
    """A measured figure with 3 significant digits below 100, whole numbers above."""
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def hours(images: float, images_per_s: float) -> float:
    return images / images_per_s / 3600


def where(device: torch.device) -> str:
    if device.type == "cuda":
        return (f"{torch.cuda.get_device_name(device)} ({device}), torch {torch.__version__}, "
                f"CUDA {torch.version.cuda}")
    cpu = platform.processor() or platform.machine()
    return f"CPU ({cpu}, {torch.get_num_threads()} torch threads), torch {torch.__version__}"


def gpu_state(device: torch.device) -> str:
    """SM clock, its maximum and the power limit, read (never set) through NVML."""
    try:
        import pynvml  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return "clocks not read (pynvml is not installed: pip install -e '.[gpu]')"
    try:
        pynvml.nvmlInit()
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(device.index or 0)
            sm = pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM)
            sm_max = pynvml.nvmlDeviceGetMaxClockInfo(handle, pynvml.NVML_CLOCK_SM)
            limit_w = pynvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000
        finally:
            pynvml.nvmlShutdown()
    except Exception as exc:  # NVMLError and its subclasses: the reading is only informative
        return f"clocks not read ({exc})"
    return f"SM clock {sm} MHz now (max {sm_max} MHz), power limit {limit_w:.0f} W (read only)"


# ---------------------------------------------------------------- 1. supernet training


def supernet_training(b: Bench) -> None:
    """Mixed-precision supernet training steps (CIFAR-100 supernet, sandwich rule, 192..288 px)."""
    from hadas.training.supernet_trainer import train_supernet

    base = cifar_config()
    batch = b.batch or b.sizes.train_batch or base.train.batch_size
    steps = b.sizes.train_steps
    # hadas's own trainer, 2 epochs of `steps` steps: epoch 1 warms up, epoch 2 is reported
    cfg = replace(base, train=replace(base.train, epochs=2, batch_size=batch))
    tc = cfg.train
    amp = b.device.type == "cuda" and tc.mixed_precision  # what the trainer decides
    precision = "fp16 autocast + GradScaler" if amp else "fp32"
    data = synthetic_splits(batch * steps, batch, cfg.data.classes)
    result = train_supernet(cfg, b.tmp / "cifar100-supernet", b.device, data=data,
                            progress=False)
    warm, rec = result.history[0], result.history[-1]
    passes = 2 + tc.num_random_subnets
    rate = rec["images_per_s"]
    space = BackboneSpace(cfg.supernet)
    largest, smallest = space.largest(), space.smallest()
    table(b.title("sandwich steps of hadas's train_supernet (synthetic CIFAR-100 data)"),
          ["batch", "sub-networks per step", "precision", "timed steps", "s/step (warm-up epoch)",
           "s/step", "training images/s", "min per CIFAR-100 epoch (50,000 images)",
           f"h for train.epochs = {base.train.epochs}"],
          [[batch, f"{passes}: largest {largest.resolution} px, smallest "
                   f"{smallest.resolution} px, {tc.num_random_subnets} random",
            precision, steps, f"{warm['seconds'] / steps:.3f}", f"{rec['seconds'] / steps:.3f}",
            num(rate), num(CIFAR_TRAIN_IMAGES / rate / 60),
            num(hours(base.train.epochs * CIFAR_TRAIN_IMAGES, rate))]])

    # where a step's time goes: one sub-network pass, as the trainer runs it (its step code is
    # inline in the epoch loop, so this repeats its pieces: channels_last input, autocast,
    # regularisation on the largest, scaled backward), at every resolution of the space
    net = fresh_supernet(cfg, b.device).train()
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, CIFAR_SIZE, CIFAR_SIZE, generator=gen).to(b.device)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, cfg.data.classes, (batch,), generator=gen).to(b.device)
    rows: list[list[object]] = []
    for res in cfg.supernet.resolutions:
        row: list[object] = [res]
        for j, arch in enumerate((largest, smallest)):
            net.activate(replace(arch, resolution=res))

            def one_pass(regularize: bool = j == 0) -> None:
                net.zero_grad(set_to_none=True)
                with autocast(b.device, torch.float16 if amp else None):
                    logits = net(x, regularize=regularize)
                    loss = F.cross_entropy(logits, y, label_smoothing=tc.label_smoothing)
                scaler.scale(loss).backward()

            s = median_seconds(one_pass, b.device, b.sizes.pass_repeats, b.sizes.pass_warmup)
            row += [num(1e3 * s), num(batch / s)]
        rows.append(row)
    table(b.title(f"one sub-network pass (forward + backward, {precision}, batch {batch})"),
          ["resolution px", "largest ms", "largest images/s", "smallest ms",
           "smallest images/s"], rows)


# ---------------------------------------------------------------- 2. backbone evaluation


@torch.no_grad()
def top1_variant(net: nn.Module, loader: Any, dtype: torch.dtype | None,
                 channels_last_input: bool, device: torch.device) -> float:
    """`hadas.evaluation.backbone.top1_accuracy` under autocast and/or on channels_last input."""
    from hadas.evaluation.backbone import top1_accuracy

    batches = ((x.contiguous(memory_format=torch.channels_last), y) for x, y in loader) \
        if channels_last_input else loader
    with autocast(device, dtype):
        return top1_accuracy(net, batches)


def backbone_eval(b: Bench) -> None:
    """Backbone evaluation forward throughput: hadas's fp32 way against bf16 and channels_last."""
    import copy

    from hadas.evaluation.backbone import evaluation_loader, top1_accuracy
    from hadas.training.inheritance import inherit

    base = cifar_config()
    ev = base.evaluation
    ev = replace(ev, batch_size=b.sizes.eval_batch or ev.batch_size,
                 bn_calibration_batches=b.sizes.bn_batches or ev.bn_calibration_batches,
                 bn_calibration_batch_size=b.sizes.bn_batch or ev.bn_calibration_batch_size)
    cfg = replace(base, evaluation=ev)
    n_eval = ev.batch_size * b.sizes.eval_batches
    n_bn = ev.bn_calibration_batches * ev.bn_calibration_batch_size
    data = synthetic_splits(n_bn, n_eval, cfg.data.classes)
    torch.manual_seed(0)
    supernet = create_supernet(cfg).to(b.device).eval()
    loader = evaluation_loader(data, ev, "test", b.device)
    rows = []
    for name in ARCHS:
        backbone = reference_backbone(supernet.space, name)
        sync(b.device)
        t0 = time.perf_counter()
        hadas_net = inherit(supernet, backbone, data, ev, b.device, cfg.seed)  # extract + BN
        sync(b.device)
        inherit_s = time.perf_counter() - t0
        plain = copy.deepcopy(hadas_net).to(memory_format=torch.contiguous_format)
        variants: list[tuple[str, Callable[[], object]]] = [
            ("hadas: fp32, channels_last weights (top1_accuracy)",
             lambda: top1_accuracy(hadas_net, loader)),
            ("fp32, contiguous", lambda: top1_variant(plain, loader, None, False, b.device)),
            ("bf16 autocast, contiguous",
             lambda: top1_variant(plain, loader, torch.bfloat16, False, b.device)),
            ("fp32, channels_last weights + input",
             lambda: top1_variant(hadas_net, loader, None, True, b.device)),
            ("bf16 autocast, channels_last weights + input",
             lambda: top1_variant(hadas_net, loader, torch.bfloat16, True, b.device)),
        ]
        reference = None
        for label, fn in variants:
            s = median_seconds(fn, b.device, b.sizes.eval_repeats, 1)
            rate = n_eval / s
            reference = reference or rate
            rows.append([name, backbone.resolution, label, num(rate),
                         f"{rate / reference:.2f}",
                         f"{inherit_s:.2f}" if label.startswith("hadas") else ""])
    table(b.title(f"backbone evaluation forward, batch {ev.batch_size}, {n_eval} images per pass,"
                  f" median of {b.sizes.eval_repeats}"),
          ["arch", "px", "variant", "images/s", "x hadas",
           f"extract + BN re-estimation s ({n_bn} images)"], rows)


# ---------------------------------------------------------------- 3. exit training


def exit_training(b: Bench) -> None:
    """Exit training throughput: per backbone (train_exits) and shared (hadas.exits.shared)."""
    from hadas.config import SHARED_SAMPLING
    from hadas.exits import MultiExitNetwork, build_heads, train_exits
    from hadas.exits.shared import SharedExitHeads, train_shared_exits
    from hadas.space import candidate_positions

    base = cifar_config()
    batch = b.sizes.exit_batch or base.exits.batch_size
    steps = b.sizes.exit_steps
    # 2 epochs of `steps` steps: epoch 1 warms up, epoch 2 is reported
    ec = replace(base.exits, epochs=2, batch_size=batch)
    cfg = replace(base, exits=ec)
    n_train = batch * steps
    data = synthetic_splits(n_train, batch, cfg.data.classes)
    augment = cfg.data.augment
    supernet = fresh_supernet(cfg, b.device).eval()
    per_image_s = []
    rows = []
    for name in ARCHS:
        backbone = reference_backbone(supernet.space, name)
        sk = supernet.space.skeleton(backbone)
        positions = candidate_positions(sk.n_blocks, ec.first_exit_block)
        # as hadas.exits.bank.prepare_exits builds it, without the BN re-estimation (timing only)
        sub = supernet.extract(backbone).to(b.device).to(memory_format=torch.channels_last)
        torch.manual_seed(cfg.seed)
        heads = build_heads(sk, positions, ec.exit_channels, ec.confidence_head)
        heads = heads.to(b.device).to(memory_format=torch.channels_last)
        net = MultiExitNetwork(sub, heads)
        history = train_exits(net, data, ec, b.tmp / f"exits-{name}.pt", b.device, cfg.seed,
                              augment=augment, progress=False)
        rate = n_train / history[-1]["seconds"]
        per_image_s.append(1 / rate)
        one = hours(HADAS_EXIT_EPOCHS * CIFAR_TRAIN_IMAGES, rate)
        rows.append([name, backbone.resolution, len(positions), num(rate), num(one),
                     num(HADAS_BACKBONES * one)])
        del net, sub, heads
    mean_rate = 1 / statistics.mean(per_image_s)
    total_h = HADAS_BACKBONES * hours(HADAS_EXIT_EPOCHS * CIFAR_TRAIN_IMAGES, mean_rate)
    rows.append([f"mean of {', '.join(ARCHS)}", "", "", num(mean_rate),
                 num(total_h / HADAS_BACKBONES), num(total_h)])
    table(b.title(f"per-backbone exit training (train_exits, fp32, batch {batch}, "
                  f"augment {augment}, {steps} steps timed)"),
          ["arch", "px", "candidate exits", "images/s",
           f"h per backbone ({HADAS_EXIT_EPOCHS} epochs x {CIFAR_TRAIN_IMAGES:,})",
           f"h for {HADAS_BACKBONES} backbones"], rows)

    # the config's sampling first, then the other
    samplings = [ec.shared_sampling] + [s for s in SHARED_SAMPLING if s != ec.shared_sampling]
    rows = []
    for sampling in samplings:
        ecs = replace(ec, shared_sampling=sampling)
        heads_s = SharedExitHeads(supernet.spec, ecs.first_exit_block, ecs.exit_channels,
                                  confidence=ecs.confidence_head).to(b.device)
        history = train_shared_exits(supernet, heads_s, data, ecs,
                                            b.tmp / f"exits-shared-{sampling}.pt", b.device,
                                            seed=cfg.seed, augment=augment, progress=False)
        last = history[-1]
        data_rate = n_train / last["seconds"]           # training images per second
        subnet_rate = last["images"] / last["seconds"]  # x sub-networks trained per step
        shared_h = hours(HADAS_EXIT_EPOCHS * CIFAR_TRAIN_IMAGES, data_rate)
        label = " (config)" if sampling == ec.shared_sampling else ""
        rows.append([f"{sampling}{label}", num(last["images"] / n_train),
                     num(data_rate), num(subnet_rate), num(shared_h), num(total_h),
                     f"{num(total_h / shared_h)}x"])
        del heads_s
    table(b.title(f"shared exit training (train_shared_exits, batch {batch}, augment {augment}, "
                  f"{steps} steps timed), once for the whole supernet"),
          ["exits.shared_sampling", "sub-networks per step", "training images/s",
           "sub-network images/s", f"h once ({HADAS_EXIT_EPOCHS} epochs x {CIFAR_TRAIN_IMAGES:,})",
           f"h per-backbone for {HADAS_BACKBONES} backbones", "per-backbone / shared"], rows)


# ---------------------------------------------------------------- 4. latency and energy


def latency_energy(b: Bench) -> None:
    """Batch-1 CUDA-event latency and NVML energy per image of a0/a6 at 192/288 px."""
    if b.device.type != "cuda":
        raise Skipped("CUDA-event latency and NVML energy need a CUDA device")
    from hadas.api.board import LOCAL, BoardMeasurer
    from hadas.hardware.measure import time_module
    from hadas.space import ExitPlan

    cfg = cifar_config()
    repeats, warmup = b.sizes.latency_repeats, b.sizes.latency_warmup
    supernet = create_supernet(cfg).to(b.device).eval()
    rows = []
    # the `local` platform: BoardMeasurer leaves every clock alone (no DVFS control at all)
    with BoardMeasurer(cfg, LOCAL, device=str(b.device), warmup=warmup) as measurer:
        energy = measurer.info()["sensors"]
        for name in ARCHS:
            ref = reference_backbone(supernet.space, name)
            for res in (192, 288):
                backbone = replace(ref, resolution=res)
                rec = measurer.measure(backbone, ExitPlan(()), {}, repeats)
                (seg,) = rec["segments"]  # no exits: one backbone segment
                sub = supernet.extract(backbone).to(b.device).eval()
                x = torch.randn(1, 3, res, res, device=b.device)
                eager = time_module(sub, x, repeats, warmup)
                mj = (f"{seg['energy_mj']:.2f}" if seg["energy_mj"] is not None
                      else "unavailable (energy sensor line above)")
                rows.append([name if res == ref.resolution else f"{name} at {res} px", res,
                             f"{seg['latency_ms']:.3f}", f"{seg['latency_ms_spread']:.3f}",
                             f"{eager.latency_ms:.3f}", mj])
                del sub
    print(f"\nenergy sensor: {energy['energy'] or energy['energy_unavailable']}; "
          f"{measurer.dvfs_note}")
    table(b.title(f"batch 1, median of {repeats} CUDA-event timings after {warmup} warm-up runs"),
          ["backbone", "px", "traced ms (BoardMeasurer)", "IQR ms", "eager ms (time_module)",
           "mJ per image (NVML: whole board, idle power included)"], rows)


# ---------------------------------------------------------------- 5. search, 6. export


def tiny_config(quick: bool) -> HadasConfig:
    """The embedded default with 2 outer generations; --quick also shrinks every budget."""
    cfg = load_config(TINY_CONFIG)
    s = cfg.search
    search = replace(s, ooe=replace(s.ooe, generations=2))
    if not quick:
        return replace(cfg, search=search)
    search = replace(search, ooe=replace(search.ooe, population=4, n_crossover=2, n_mutation=2),
                     ioe=replace(s.ioe, population=4, generations=2, n_crossover=2,
                                 n_mutation=2))
    return replace(cfg, search=search, train=replace(cfg.train, epochs=1),
                   exits=replace(cfg.exits, epochs=1, warmup_epochs=0))


def tiny_search(b: Bench) -> TinyRun:
    """Train the tiny supernet and search it once (in the temporary folder), then reuse."""
    if b.tiny is not None:
        return b.tiny
    from hadas import api

    cfg = tiny_config(b.quick)
    supernet_dir = b.tmp / "tiny" / "supernet"
    t0 = time.perf_counter()
    api.train_supernet(cfg, supernet_dir, str(b.device), progress=False)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    result, run_dir = api.search(cfg, b.tmp / "tiny" / "run", seed=0, device=str(b.device),
                                 progress=False, say=lambda line: None,
                                 supernet_dir=supernet_dir)
    b.tiny = TinyRun(run_dir, train_s, time.perf_counter() - t0, cfg, result)
    return b.tiny


def search(b: Bench) -> None:
    """A two-generation search of the embedded default (configs/tiny-digits.yaml)."""
    run = tiny_search(b)
    cfg, stats = run.cfg, run.result.stats
    ooe, ioe = cfg.search.ooe, cfg.search.ioe
    table(b.title(f"{cfg.name}: supernet {cfg.train.epochs} epochs, search OOE {ooe.population} "
                  f"x {ooe.generations}, IOE {ioe.population} x {ioe.generations} "
                  f"({ioe.dvfs} DVFS), exits {cfg.exits.epochs} epochs"),
          ["what", "seconds"],
          [["supernet training (api.train_supernet)", f"{run.train_s:.1f}"],
           ["search wall time (api.search)", f"{run.search_s:.1f}"],
           [f"  backbone evaluation ({stats.computed['backbone']} backbones)",
            f"{stats.seconds['backbone']:.1f}"],
           [f"  exit training ({stats.computed['ioe']} exit banks)",
            f"{stats.seconds['exit_training']:.1f}"],
           [f"  inner search ({stats.computed['ioe']} IOEs)",
            f"{stats.seconds['inner_search']:.2f}"],
           ["  storage", f"{stats.seconds['storage']:.2f}"]])
    print(f"\narchive: {len(run.result.archive)} DyNNs, final hypervolume "
          f"{run.result.hypervolume[-1]:.4f}")


def export(b: Bench) -> None:
    """`hadas export` of DyNN 0 of the search's run on this device."""
    from hadas import api

    made = b.tiny is None
    run = tiny_search(b)
    if made:
        print(f"(the run was made first: supernet {run.train_s:.1f} s, search {run.search_s:.1f} s)")
    t0 = time.perf_counter()
    manifest = api.export_dynn(run.run_dir, 0, b.tmp / "bundle", device=str(b.device))
    seconds = time.perf_counter() - t0
    v, onnx = manifest["verification"], manifest["onnx"]
    table(b.title(f"api.export_dynn of DyNN 0 of {run.cfg.name}"),
          ["seconds", "program reproduces the run", "program top-1 %", "ONNX"],
          [[f"{seconds:.1f}", v["program_matches_run"],
            f"{v['program_on_eval_split']['top1']:.2f}",
            f"{onnx['status']}, {len(onnx['files'])} files"]])


SECTIONS: dict[str, Callable[[Bench], None]] = {
    "supernet_training": supernet_training,
    "backbone_eval": backbone_eval,
    "exit_training": exit_training,
    "latency_energy": latency_energy,
    "search": search,
    "export": export,
}


# ---------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                    help="cuda (default; one line and exit 0 without one) or cpu")
    ap.add_argument("--quick", action="store_true",
                    help="tiny sizes: checks the code paths (on a CPU in a few minutes)")
    ap.add_argument("--sections", default=",".join(SECTIONS),
                    help=f"comma-separated, in any order (default all: {','.join(SECTIONS)})")
    ap.add_argument("--batch", type=int,
                    help="supernet training batch (default: train.batch_size of the config)")
    args = ap.parse_args(argv)
    args.chosen = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in args.chosen if s not in SECTIONS]
    if unknown or not args.chosen:
        ap.error(f"--sections: unknown {unknown or 'none given'}; choose from {', '.join(SECTIONS)}")
    if args.batch is not None and args.batch < 1:
        ap.error(f"--batch must be >= 1, got {args.batch}")
    return args


def free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench/gpu.py: no CUDA device (torch.cuda.is_available() is False), nothing "
              "measured; `--device cpu --quick` checks the code paths on a CPU")
        return 0
    device = torch.device("cuda", torch.cuda.current_device()) if args.device == "cuda" \
        else torch.device("cpu")
    sizes = QUICK if args.quick else FULL
    t_all = time.perf_counter()
    results: list[tuple[str, str, float]] = []
    with tempfile.TemporaryDirectory(prefix="hadas-gpu-bench-") as tmp:
        bench = Bench(device, args.quick, sizes, args.batch, Path(tmp), where(device))
        print(f"# hadas GPU bench: figures measured on {bench.where}"
              f"{' (--quick: tiny sizes, the figures only show the paths run)' if args.quick else ''}")
        print("synthetic data, random weights; GPU clocks and settings are left as they are "
              "(this script never changes them)")
        if device.type == "cuda":
            print(gpu_state(device))
        for name in args.chosen:
            fn = SECTIONS[name]
            doc = (fn.__doc__ or "").strip().splitlines()[0]
            print(f"\n## {name}: {doc}")
            t0 = time.perf_counter()
            status = "ok"
            try:
                fn(bench)
            except Skipped as why:
                status = "skipped"
                print(f"skipped: {why}")
            except Exception as exc:  # a failing section must not stop the others
                status = "FAILED"
                print(f"FAILED: {type(exc).__name__}: {exc}")
                traceback.print_exc(file=sys.stderr)
            finally:
                free(device)
            seconds = time.perf_counter() - t0
            results.append((name, status, seconds))
            print(f"\n({name}: {status}, {seconds:.1f} s)")
    total = time.perf_counter() - t_all
    table(f"summary ({total:.0f} s in all) on {bench.where}", ["section", "status", "seconds"],
          [[n, s, f"{t:.1f}"] for n, s, t in results])
    return 1 if any(s == "FAILED" for _, s, _ in results) else 0


if __name__ == "__main__":
    sys.exit(main())
