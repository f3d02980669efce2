"""Data-parallel supernet training: steps per second on 1 and N processes, side by side.

Every run trains the same config for `--epochs` epochs at the same global batch (each of N
processes takes 1/N of every batch) and reports the last epoch's throughput from the
checkpoint's history (the first epoch carries start-up costs). On CPU the 1-process run is
repeated with as many threads as the N-process run uses in all, so the comparison uses the same
cores; torchrun gives each of its processes one thread.

    .venv/bin/python bench/distributed.py                        # CPU: 1 and 2 processes
    .venv/bin/python bench/distributed.py --device cuda --procs 1 2 4   # one node, N GPUs
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(config: Path, out: Path, procs: int, threads: int, device: str) -> dict:
    cli = ["-m", "hadas.cli.main", "train-supernet", "--config", str(config), "--out", str(out),
           "--device", device, "--quiet"]
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(procs),
                 "--master-addr", "127.0.0.1", "--master-port", str(free_port())]
                if procs > 1 else [sys.executable])
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(launcher + cli, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{procs} processes failed:\n{done.stderr[-2000:]}")
    last = torch.load(out / "supernet.pt", weights_only=False)["history"][-1]
    return {"images_per_s": last["images_per_s"], "epoch_s": last["seconds"],
            "loss": last["loss_max"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "tiny-digits.yaml"))
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = ap.parse_args()
    data = yaml.safe_load(Path(args.config).read_text())
    data["train"].update(epochs=args.epochs, warmup_epochs=1)
    batch = data["train"]["batch_size"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.yaml"
        config.write_text(yaml.safe_dump(data))
        most = max(args.procs)
        plan = [(n, 1) for n in args.procs]
        if args.device == "cpu" and most > 1:
            plan.insert(1, (1, most))  # one process on all the cores the widest run uses
        for i, (n, threads) in enumerate(plan):
            r = run(config, Path(tmp) / f"run{i}", n, threads, args.device)
            rows.append((n, threads, r))
    base = rows[0][2]["images_per_s"]
    print(f"{args.device}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{Path(args.config).name}, global batch {batch}, last of {args.epochs} epochs "
          "(measured)")
    print(f"{'processes':>9} {'threads each':>12} {'images/s':>9} {'steps/s':>8} "
          f"{'vs 1x1':>7} {'epoch s':>8} {'loss':>7}")
    for n, threads, r in rows:
        print(f"{n:>9} {threads if args.device == 'cpu' else '-':>12} {r['images_per_s']:9.1f} "
              f"{r['images_per_s'] / batch:8.3f} {r['images_per_s'] / base:7.2f} "
              f"{r['epoch_s']:8.2f} {r['loss']:7.4f}")


if __name__ == "__main__":
    main()
