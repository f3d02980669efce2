"""Train a small supernet and one exit bank on one process and print their weight checksums.

`tests/test_distributed.py` runs this in a subprocess pinned to one thread and to AVX2 kernels
and compares it with `fixtures/single_process_weights.json`. The pinning does not make training
bit-identical across x86 machines (oneDNN picks its convolution kernels by CPU model and cache),
so each network is also summarised by a count sketch of its weights: a seeded random bucket and
sign per value, summed per bucket, whose distance estimates the distance of the weights. The
fixture's digests are exact on a machine like the one that wrote it; elsewhere the test compares
the sketches and the losses within measured tolerances (see `tests/test_distributed.py`).
The fixture was written with the code before torch.distributed support (commit 5b802f3), which
gives the same digests as today's code on the machine that wrote it. Rewrite it (only when a
change to the single-process result is intended) with:
    python tests/single_process_reference.py OUT_DIR --write
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "single_process_weights.json"
PINNED_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "ATEN_CPU_CAPABILITY": "avx2",
              "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}


def small_config(epochs: int = 2, batch_size: int = 64, exit_epochs: int = 1) -> dict:
    """tiny-digits on a quarter of the images (7 steps per epoch at batch 64)."""
    data = yaml.safe_load((ROOT / "configs" / "tiny-digits.yaml").read_text())
    data["data"].update(val_fraction=0.3, test_fraction=0.45)
    data["train"].update(epochs=epochs, warmup_epochs=1, batch_size=batch_size)
    data["exits"].update(epochs=exit_epochs, warmup_epochs=0)
    data["evaluation"].update(bn_calibration_batches=4)  # of 7 full batches
    return data


SKETCH_BUCKETS = 256


def weights_sketch(state: dict[str, torch.Tensor], buckets: int = SKETCH_BUCKETS) -> list[float]:
    """Count sketch of every floating-point value in name order: its squared length estimates
    the squared length of the weights, so sketch distances estimate weight distances."""
    values = np.concatenate([state[k].detach().double().cpu().flatten().numpy()
                             for k in sorted(state) if state[k].is_floating_point()])
    rng = np.random.default_rng(0)
    bucket = rng.integers(0, buckets, values.size)
    sign = rng.choice((-1.0, 1.0), values.size)
    return np.bincount(bucket, weights=sign * values, minlength=buckets).tolist()


def main(out: Path) -> dict:
    from hadas import api
    from hadas.config import config_from_dict
    from hadas.model import read_checkpoint
    from hadas.training.distributed import weights_digest

    torch.set_num_threads(1)
    cfg = config_from_dict(small_config())
    trained = api.train_supernet(cfg, out / "supernet", "cpu", progress=False)
    bank = api.train_exit_bank(cfg, trained.checkpoint, "min", out / "exits", "cpu", False)
    supernet = read_checkpoint(trained.checkpoint)["state_dict"]
    heads = read_checkpoint(bank.directory / "bank.pt")["heads"]
    return {"supernet": weights_digest(supernet), "exit_bank": weights_digest(heads),
            "loss_max": [h["loss_max"] for h in trained.history],
            "supernet_sketch": weights_sketch(supernet), "exit_bank_sketch": weights_sketch(heads)}


if __name__ == "__main__":
    result = main(Path(sys.argv[1]))
    if "--write" in sys.argv:
        FIXTURE.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
