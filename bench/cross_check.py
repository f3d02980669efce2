"""HADAS's own AGX Xavier measurements (HADAS.md §8) next to what a platform predicts.

HADAS measured a0 at 173.8 mJ and a6 at 335.5 mJ per CIFAR-100 inference (PyTorch, clocks
unknown) and a DVFS saving of 3-33 % on top of exits. Nothing here is fitted to them.
    python bench/cross_check.py [--platform agx-xavier-calibrated]
"""
from __future__ import annotations

import argparse

import numpy as np

from hadas.config import load_config
from hadas.hardware import HardwareModel, resolve_platform
from hadas.space import BackboneSpace, ExitPlan, resolve_arch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", default="agx-xavier-calibrated")
    parser.add_argument("--config", default="configs/hadas-cifar100.yaml")
    args = parser.parse_args()
    space = BackboneSpace(load_config(args.config).supernet)
    model = HardwareModel(resolve_platform(args.platform))
    out = {}
    for arch in ("a0", "a6"):
        sk = space.skeleton(resolve_arch(space, arch))
        ref = model.segment_costs(sk, ExitPlan(()))
        grid = model.costs_grid(sk, ExitPlan(()))
        best = int(np.argmin(grid.total_energy_mj))
        out[arch] = (float(ref.total_energy_mj), float(ref.total_latency_ms),
                     1.0 - float(grid.total_energy_mj[best]) / float(ref.total_energy_mj),
                     {d: int(grid.freq_hz[d][best]) // 1_000_000 for d in model.platform.domains})
        e, t, saving, clocks = out[arch]
        print(f"{arch}: {e:.1f} mJ, {t:.2f} ms at the reference clocks ({model.platform.provenance('energy')}); "
              f"best DVFS point saves {saving:.1%} ({clocks} MHz)")
    print(f"a6 / a0 energy: {out['a6'][0] / out['a0'][0]:.2f} (HADAS measured 335.5 / 173.8 = 1.93)")


if __name__ == "__main__":
    main()
