"""One rank of a data-parallel job for `test_distributed.py`, started by torchrun or by the test
(RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT in the environment).

    dist_worker.py train CONFIG OUT     hadas's supernet training; prints this rank's weights digest
    dist_worker.py mlp OUT              a BatchNorm-free model trained with the same sharding and
                                        gradient averaging; writes this rank's weights to OUT

Each prints one JSON line per rank.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

from hadas import api
from hadas.data import ImageTensors, TensorLoader
from hadas.training import process_group


def train(config: str, out: str) -> dict:
    result = api.train_supernet(config, out, "cpu", progress=False)
    return {"rank": result.world.rank, "size": result.world.size, "digest": result.digest,
            "history": result.history}


def mlp(out: str, steps: int = 6, batch: int = 16) -> dict:
    """Six steps of SGD with momentum on augmented synthetic images: the per-process share of
    each batch, gradients averaged, must give exactly the one-process weights (no BatchNorm)."""
    gen = torch.Generator().manual_seed(0)
    data = ImageTensors(torch.randint(0, 256, (steps * batch, 3, 8, 8), dtype=torch.uint8,
                                      generator=gen), torch.randint(0, 4, (steps * batch,),
                                                                    generator=gen))
    with process_group(torch.device("cpu")) as (world, device):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 32), torch.nn.Tanh(),
                                  torch.nn.Linear(32, 4))
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        loader = TensorLoader(data, batch, mean=(0.5,) * 3, std=(0.25,) * 3, shuffle=True,
                              augment=True, drop_last=True, seed=3, rank=world.rank,
                              world_size=world.size)
        for x, y in loader:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(x), y)  # averaged: the global mean
            loss.backward()
            world.average_gradients(net.parameters())
            opt.step()
        torch.save(net.state_dict(), Path(out) / f"mlp-rank{world.rank}-of{world.size}.pt")
        return {"rank": world.rank, "size": world.size}


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    line = json.dumps({"train": train, "mlp": mlp}[command](*args)) + "\n"
    # one write(2) of under PIPE_BUF bytes: the ranks share torchrun's stdout, and a line
    # written in pieces by print() could interleave with the other rank's
    assert len(line.encode()) < 4096, "a line this long could interleave"
    os.write(sys.stdout.fileno(), line.encode())
