"""Throughput of the analytical hardware model: vectorised over DVFS points vs one at a time.

Counts (segment, DVFS point) estimates per second. Vectorised = one `costs_grid` call over the
platform's whole DVFS table (3654 points on AGX Xavier); one at a time = `segment_costs` with
a `DvfsSetting` per point, over a subset of the same points. Both in one run, side by side.

    .venv/bin/python bench/hardware_model.py [--platform P] [--config C] [--single-points N]
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from hadas.config import load_config
from hadas.hardware import DvfsSetting, HardwareModel, get_platform
from hadas.space import BackboneSpace, ExitPlan, resolve_arch


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median of `repeats` timed calls after one warm-up call (fills the layer-table cache)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", default="agx-xavier")
    parser.add_argument("--config", default="configs/hadas-cifar100.yaml")
    parser.add_argument("--single-points", type=int, default=300,
                        help="DVFS points timed one at a time (default: 300)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    platform = get_platform(args.platform)
    model = HardwareModel(platform)
    space = BackboneSpace(load_config(args.config).supernet)
    sizes = " x ".join(str(len(platform.dvfs_hz[d])) for d in platform.domains)
    print(f"platform {platform.name}, DVFS grid {sizes}")
    print("| arch | exits | segments | vectorised estimates/s | one at a time estimates/s "
          "| ratio |")
    print("|---|---|---|---|---|---|")
    for arch, exits in (("a0", (5, 9)), ("a6", (6, 12, 18)), ("max", (8, 16, 24, 30))):
        sk = space.skeleton(resolve_arch(space, arch))
        plan = ExitPlan(exits)
        grid = model.costs_grid(sk, plan)
        n_seg, n_points = grid.latency_ms.shape
        vec_s = median_seconds(lambda: model.costs_grid(sk, plan), args.repeats)
        rng = np.random.default_rng(0)
        picks = rng.choice(n_points, size=min(args.single_points, n_points), replace=False)
        settings = [DvfsSetting.create(platform, {d: int(grid.freq_hz[d][i])
                                                  for d in platform.domains}) for i in picks]
        one_s = median_seconds(lambda: [model.segment_costs(sk, plan, s) for s in settings],
                               max(1, args.repeats // 2))
        vec_rate = n_seg * n_points / vec_s
        one_rate = n_seg * len(settings) / one_s
        print(f"| {arch} | {','.join(map(str, exits))} | {n_seg} | {vec_rate:,.0f} | "
              f"{one_rate:,.0f} | {vec_rate / one_rate:.0f}x |")


if __name__ == "__main__":
    main()
