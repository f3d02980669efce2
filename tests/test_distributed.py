"""Data-parallel training (torch.distributed, gloo on loopback) against one process.

The loss of 2 processes cannot equal the 1-process loss exactly: each process normalises its
half of the batch with its own BatchNorm statistics (32 images instead of 64; AttentiveNAS also
trains without synchronised BN). LOSS_TOLERANCE is set from the seed-to-seed spread of the
1-process epoch-2 loss on this config (2.128-2.175 over seeds 0-3, where 2 processes gave
+0.011 to +0.037). Without BatchNorm the sharding and gradient averaging are exact (the MLP test).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from hadas.data import ImageTensors, TensorLoader
from hadas.model import read_checkpoint
from hadas.training import World, world_from_env
from hadas.training.distributed import weights_digest

from conftest import raises_config_error
from dist_worker import mlp
from single_process_reference import FIXTURE, PINNED_ENV, small_config

WORKER = Path(__file__).resolve().parent / "dist_worker.py"
REFERENCE = Path(__file__).resolve().parent / "single_process_reference.py"
LOSS_TOLERANCE = 0.06
RANK_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in RANK_VARIABLES}
    return {**env, "OMP_NUM_THREADS": "1", **extra}


def rank_env(rank: int, size: int, port: int) -> dict[str, str]:
    return process_env(RANK=str(rank), WORLD_SIZE=str(size), LOCAL_RANK=str(rank),
                       MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))


def torchrun(*args: str | Path, timeout: float = 240) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
           "--master-addr", "127.0.0.1", "--master-port", str(free_port()), *map(str, args)]
    done = subprocess.run(cmd, env=process_env(), capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def write_config(path: Path, **train: object) -> Path:
    data = small_config()
    data["train"].update(train)
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, dict]:
    """The small supernet and exit bank trained on one process, pinned to one thread and AVX2."""
    out = tmp_path_factory.mktemp("one-process")
    done = subprocess.run([sys.executable, str(REFERENCE), str(out)],
                          env=process_env(**PINNED_ENV), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return out, json_lines(done.stdout)[-1]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> tuple[Path, list[dict]]:
    """The same supernet trained by `torchrun --nproc-per-node 2` on gloo."""
    root = tmp_path_factory.mktemp("two-ranks")
    done = torchrun(WORKER, "train", write_config(root / "small.yaml"), root / "run")
    return root / "run", sorted(json_lines(done.stdout), key=lambda r: r["rank"])


# Tolerances for a machine whose kernels differ from the fixture writer's, measured on the
# reference run (sketch distances, BN running statistics included): the same code on AVX-512
# kernels instead of AVX2 moved the supernet by 2.3 %, the exit heads by 6.1 % and the epoch-2
# loss by 0.0023; a real change, base_lr 0.1 -> 0.095, moved them by 11 %, 18 % and 0.015.
WEIGHT_DRIFT = {"supernet": 0.05, "exit_bank": 0.11}
LOSS_DRIFT = 0.006


def relative_distance(a: list[float], b: list[float]) -> float:
    a_, b_ = np.asarray(a), np.asarray(b)
    return float(np.linalg.norm(a_ - b_) / np.linalg.norm(b_))


def test_single_process_training_gives_the_weights_it_gave_before(reference):
    _, result = reference
    stored = json.loads(FIXTURE.read_text())
    if result["supernet"] == stored["supernet"]:  # a machine with the writer's kernels
        assert result["exit_bank"] == stored["exit_bank"], "exit heads changed on one process"
        assert result["loss_max"] == stored["loss_max"]
        return
    for name, tolerance in WEIGHT_DRIFT.items():
        drift = relative_distance(result[f"{name}_sketch"], stored[f"{name}_sketch"])
        assert drift < tolerance, f"{name} weights changed on one process ({drift:.2%})"
    assert result["loss_max"] == pytest.approx(stored["loss_max"], abs=LOSS_DRIFT)


def test_two_ranks_end_with_identical_weights_and_a_close_loss(two_ranks):
    run, ranks = two_ranks
    assert [(r["rank"], r["size"]) for r in ranks] == [(0, 2), (1, 2)]
    assert ranks[0]["digest"] == ranks[1]["digest"]
    state = read_checkpoint(run / "supernet.pt")
    assert weights_digest(state["state_dict"]) == ranks[0]["digest"]  # rank 0 wrote them
    def losses(history: list[dict]) -> list[tuple]:
        return [(h["loss_max"], h["loss_min"], h["lr"]) for h in history]  # not the timings

    assert state["epoch"] == 2
    assert losses(ranks[0]["history"]) == losses(ranks[1]["history"]) == losses(state["history"])
    one = json.loads(FIXTURE.read_text())["loss_max"]
    two = [h["loss_max"] for h in state["history"]]
    assert two[-1] < two[0]
    assert max(abs(a - b) for a, b in zip(one, two)) < LOSS_TOLERANCE, (one, two)


def test_gradient_averaging_over_shards_equals_one_process_exactly(tmp_path):
    assert mlp(str(tmp_path)) == {"rank": 0, "size": 1}  # here, as one process
    port = free_port()
    procs = [subprocess.Popen([sys.executable, str(WORKER), "mlp", str(tmp_path)],
                              env=rank_env(r, 2, port), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for r in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    reference = torch.load(tmp_path / "mlp-rank0-of1.pt")
    for rank in range(2):
        state = torch.load(tmp_path / f"mlp-rank{rank}-of2.pt")
        for name, value in reference.items():
            torch.testing.assert_close(state[name], value, rtol=1e-5, atol=1e-6, msg=name)


def test_a_killed_rank_stops_the_job_and_one_process_resumes_its_checkpoint(tmp_path,
                                                                             two_ranks):
    config, out = write_config(tmp_path / "small.yaml"), tmp_path / "run"
    ckpt, port, timeout = out / "supernet.pt", free_port(), 20
    cmd = [sys.executable, "-m", "hadas.cli.main", "train-supernet", "--config", str(config),
           "--out", str(out), "--device", "cpu", "--quiet", "--collective-timeout", str(timeout)]
    ranks = [subprocess.Popen(cmd, env=rank_env(r, 2, port), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for r in range(2)]
    deadline = time.monotonic() + 120
    while not (ckpt.exists() and read_checkpoint(ckpt)["epoch"] >= 1):
        assert time.monotonic() < deadline and ranks[0].poll() is None, ranks[0].stderr.read()
        time.sleep(0.2)
    ranks[1].send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    _, err = ranks[0].communicate(timeout=timeout + 60)
    ranks[1].wait()
    assert time.monotonic() - killed_at < timeout + 30
    assert ranks[0].returncode == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "rank 0 of 2" in err and "--resume" in err
    kept = read_checkpoint(ckpt)
    assert kept["epoch"] == 1

    resumed = subprocess.run(cmd + ["--resume"], env=process_env(), capture_output=True,
                             text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    final = read_checkpoint(ckpt)
    assert final["epoch"] == 2 and final["history"][0] == kept["history"][0]
    uninterrupted = two_ranks[1][0]["history"]
    assert final["history"][1]["lr"] == uninterrupted[1]["lr"]  # the schedule went on in step
    loss = [h["loss_max"] for h in final["history"]]
    one = json.loads(FIXTURE.read_text())["loss_max"]
    assert abs(loss[1] - one[1]) < LOSS_TOLERANCE, (loss, one)


def test_an_exit_bank_trained_on_two_ranks_has_the_one_process_files(tmp_path, reference):
    one_dir, _ = reference
    config = write_config(tmp_path / "small.yaml")
    done = torchrun("-m", "hadas.cli.main", "exits", "train", "--config", config,
                    "--checkpoint", one_dir / "supernet" / "supernet.pt", "--arch", "min",
                    "--out", tmp_path / "exits", "--device", "cpu", "--quiet", "--json")
    printed = json_lines(done.stdout)
    assert len(printed) == 1 and printed[0]["trained_now"]  # rank 0 alone reports
    [one_bank] = (one_dir / "exits").iterdir()
    two_bank = tmp_path / "exits" / one_bank.name  # the same content key
    assert sorted(p.name for p in two_bank.iterdir()) == sorted(p.name for p in one_bank.iterdir())
    a, b = read_checkpoint(one_bank / "bank.pt"), read_checkpoint(two_bank / "bank.pt")
    assert a.keys() == b.keys() and a["positions"] == b["positions"]
    def shapes(heads: dict) -> dict:
        return {k: v.shape for k, v in heads.items()}

    assert shapes(a["heads"]) == shapes(b["heads"])
    meta_a = json.loads((one_bank / "meta.json").read_text())
    meta_b = json.loads((two_bank / "meta.json").read_text())
    assert meta_a.keys() == meta_b.keys() and meta_a["key"] == meta_b["key"]


def test_the_loader_shards_are_the_one_process_batch_interleaved():
    gen = torch.Generator().manual_seed(1)
    data = ImageTensors(torch.randint(0, 256, (40, 3, 8, 8), dtype=torch.uint8, generator=gen),
                        torch.arange(40))
    kw = dict(mean=(0.5,) * 3, std=(0.2,) * 3, shuffle=True, augment=True, drop_last=True, seed=4)
    whole = list(TensorLoader(data, 12, **kw))
    shards = [list(TensorLoader(data, 12, rank=r, world_size=3, **kw)) for r in range(3)]
    assert all(len(s) == len(whole) == 3 for s in shards)
    for b, (x, y) in enumerate(whole):
        for r in range(3):
            assert torch.equal(shards[r][b][0], x[r::3]) and torch.equal(shards[r][b][1], y[r::3])


@pytest.mark.parametrize("env, field", [
    ({"WORLD_SIZE": "two"}, "WORLD_SIZE"), ({"WORLD_SIZE": "0"}, "WORLD_SIZE"),
    ({"WORLD_SIZE": "2", "RANK": "2"}, "RANK"), ({"WORLD_SIZE": "2", "RANK": "x"}, "RANK")])
def test_a_bad_launcher_environment_names_the_variable(env, field):
    with raises_config_error(field):
        world_from_env(env)


@pytest.mark.parametrize("timeout", [0.0, -1.0, float("nan"), float("inf")])
def test_the_collective_timeout_must_be_a_positive_number(timeout):
    with raises_config_error("collective_timeout"):
        world_from_env({}, timeout)


def test_a_global_batch_must_split_evenly_over_the_processes():
    assert World(0, 4).shard_size(64, "train.batch_size") == 16
    with raises_config_error("train.batch_size", "not divisible", "multiple of 4"):
        World(1, 4).shard_size(63, "train.batch_size")
    assert world_from_env({}) == World()
