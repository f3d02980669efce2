"""Throughput of backbone evaluation against plain forward passes, side by side in one run.

Backbone evaluation = extract the sub-network, re-estimate BN on N training batches, top-1 on
the evaluation split. Plain forward = the same extracted sub-network, already built, run over
the same evaluation split. Also times a training step (forward + backward) in both memory
formats, the reason the trainer uses channels_last.

    .venv/bin/python bench/backbone_eval.py [--config C] [--checkpoint P] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from hadas.config import load_config
from hadas.data import load_data
from hadas.evaluation import evaluate_backbone
from hadas.evaluation.backbone import evaluation_loader
from hadas.model import create_supernet, load_supernet, resolve_device
from hadas.space import reference_backbone


def timed(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median seconds of `repeats` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/tiny-digits.yaml")
    ap.add_argument("--checkpoint", help="trained supernet (throughput does not depend on it)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--archs", default="min,max")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    device = resolve_device(args.device)
    cfg = load_config(args.config)
    data = load_data(cfg.data)
    torch.manual_seed(0)
    net = (load_supernet(cfg, args.checkpoint, device) if args.checkpoint
           else create_supernet(cfg).to(device).eval())
    ev = cfg.evaluation
    split = cfg.data.eval_split
    n_eval = len(data.split(split))
    n_calib = min(ev.bn_calibration_batches * ev.bn_calibration_batch_size, len(data.train))
    print(f"device {device} | torch threads {torch.get_num_threads()} | {cfg.name}: "
          f"{n_eval} {split} images, BN re-estimation on {n_calib} train images")
    print(f"{'arch':>5} {'eval img/s':>11} {'forward img/s':>14} {'ratio':>6} "
          f"{'train-step ms (contig / ch-last)':>34}")
    loader = evaluation_loader(data, ev, split, device)
    for name in args.archs.split(","):
        arch = reference_backbone(net.space, name)
        t_eval = timed(lambda: evaluate_backbone(net, arch, data, ev, split, device=device),
                       device, args.repeats)
        sub = net.extract(arch).to(device, memory_format=torch.channels_last).eval()

        @torch.no_grad()
        def forward_pass() -> None:
            for x, _ in loader:
                sub(x)

        t_fwd = timed(forward_pass, device, args.repeats)
        x = next(iter(loader))[0][:64]
        steps = {}
        for fmt in (torch.contiguous_format, torch.channels_last):
            train_net = create_supernet(cfg).to(device, memory_format=fmt).train()
            train_net.activate(arch)
            xf = x.contiguous(memory_format=fmt)
            steps[fmt] = timed(lambda: train_net(xf).sum().backward(), device, args.repeats)
        print(f"{name:>5} {n_eval / t_eval:>11.0f} {n_eval / t_fwd:>14.0f} "
              f"{t_fwd / t_eval:>6.3f} {steps[torch.contiguous_format] * 1e3:>16.1f} / "
              f"{steps[torch.channels_last] * 1e3:.1f} "
              f"({steps[torch.contiguous_format] / steps[torch.channels_last]:.1f}x)")


if __name__ == "__main__":
    main()
