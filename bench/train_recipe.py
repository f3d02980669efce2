"""The embedded tiny supernet trained with AttentiveNAS's regularisation rates (dropout 0.2,
drop-connect 0.2) instead of the embedded config's zeros: top-1 of the largest, the smallest and
a few random sub-networks on the digits test split, with the training time.

    .venv/bin/python bench/train_recipe.py [--dropout 0.2] [--drop-connect 0.2] [--seeds 0 1]

Run it on two commits to compare training recipes side by side (it uses the public API only).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time

import numpy as np
import torch

from hadas import api
from hadas.config import load_config
from hadas.data import load_data
from hadas.evaluation import evaluate_backbone
from hadas.model import load_supernet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/tiny-digits.yaml")
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--drop-connect", type=float, default=0.2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--random", type=int, default=8, help="random sub-networks evaluated")
    args = parser.parse_args()
    base = load_config(args.config)
    model = dataclasses.replace(base.model, dropout=args.dropout, drop_connect=args.drop_connect)
    for seed in args.seeds:
        cfg = dataclasses.replace(base, model=model, seed=seed)
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            trained = api.train_supernet(cfg, out, "cpu", progress=False)
            seconds = time.perf_counter() - t0
            net = load_supernet(cfg, trained.checkpoint)
        data = load_data(cfg.data)
        rng = np.random.default_rng(seed)
        arches = {"largest": net.space.largest(), "smallest": net.space.smallest(),
                  **{f"random{i}": net.space.sample(rng) for i in range(args.random)}}
        top1 = {name: evaluate_backbone(net, a, data, cfg.evaluation).top1
                for name, a in arches.items()}
        print(json.dumps({"seed": seed, "dropout": args.dropout,
                          "drop_connect": args.drop_connect, "train_s": round(seconds, 1),
                          "largest": top1["largest"], "smallest": top1["smallest"],
                          "random_mean": float(np.mean([top1[f"random{i}"]
                                                        for i in range(args.random)])),
                          "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
