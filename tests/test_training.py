"""Supernet training: sandwich rule, per-epoch atomic checkpoints, resume after SIGKILL/Ctrl-C."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from hadas.config import load_config
from hadas.model import read_checkpoint
from hadas.training import train_supernet, warmup_cosine_lr

from conftest import CONFIGS


def _tiny_config(tmp_path: Path, epochs: int) -> Path:
    data = yaml.safe_load((CONFIGS / "tiny-digits.yaml").read_text())
    data["train"].update(epochs=epochs, warmup_epochs=1)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _train_cli(config: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hadas.cli.main", "train-supernet",
                             "--config", str(config), "--out", str(out), "--device", "cpu",
                             "--quiet", *extra], stderr=subprocess.PIPE, text=True)


def _wait_for_epoch(path: Path, epoch: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        if path.exists():
            try:
                if read_checkpoint(path)["epoch"] >= epoch:
                    return
            except Exception:  # being replaced right now: try again
                pass
        time.sleep(0.2)
    raise AssertionError(f"epoch {epoch} not reached in {timeout} s")


def test_schedule_warms_up_then_decays_to_zero():
    lrs = [warmup_cosine_lr(s, 100, 10, 0.1, 0.001) for s in range(101)]
    assert lrs[0] == pytest.approx(0.001) and lrs[10] == pytest.approx(0.1)
    assert all(a <= b for a, b in zip(lrs[:10], lrs[1:11]))
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[100] == pytest.approx(0.0, abs=1e-12)


def test_training_checkpoints_every_epoch_and_lowers_the_loss(tmp_path):
    cfg = load_config(_tiny_config(tmp_path, epochs=3))
    seen = []
    result = train_supernet(cfg, tmp_path / "run", torch.device("cpu"), progress=False,
                            on_epoch=lambda e, rec: seen.append(
                                read_checkpoint(tmp_path / "run" / "supernet.pt")["epoch"]))
    assert seen == [1, 2, 3]
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    assert result.history[-1]["loss_max"] < result.history[0]["loss_max"]
    assert result.history[-1]["loss_min"] < result.history[0]["loss_min"]
    state = read_checkpoint(result.checkpoint)
    assert state["epoch"] == 3 and state["config_fingerprint"] == cfg.supernet_fingerprint


def test_sigkill_mid_epoch_then_resume_loses_only_the_epoch_in_flight(tmp_path):
    config, out = _tiny_config(tmp_path, epochs=3), tmp_path / "run"
    ckpt = out / "supernet.pt"
    proc = _train_cli(config, out)
    _wait_for_epoch(ckpt, 1, proc)
    time.sleep(1.0)  # well inside epoch 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = read_checkpoint(ckpt)
    assert kept["epoch"] >= 1
    assert [h["epoch"] for h in kept["history"]] == list(range(1, kept["epoch"] + 1))

    resumed = _train_cli(config, out, "--resume")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    final = read_checkpoint(ckpt)
    assert final["epoch"] == 3
    assert [h["epoch"] for h in final["history"]] == [1, 2, 3]
    assert final["history"][: kept["epoch"]] == kept["history"]  # finished epochs not redone

    # the same seed without interruption gives the same weights
    straight = train_supernet(load_config(config), tmp_path / "straight", torch.device("cpu"),
                              progress=False)
    reference = read_checkpoint(straight.checkpoint)["state_dict"]
    for k, v in final["state_dict"].items():
        torch.testing.assert_close(v, reference[k], rtol=1e-4, atol=1e-5, msg=k)


def test_ctrl_c_leaves_a_usable_checkpoint_and_exit_130(tmp_path):
    config, out = _tiny_config(tmp_path, epochs=5), tmp_path / "run"
    proc = _train_cli(config, out)
    _wait_for_epoch(out / "supernet.pt", 1, proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert "--resume" in proc.stderr.read()
    state = read_checkpoint(out / "supernet.pt")
    assert 1 <= state["epoch"] < 5


def test_resume_refuses_a_checkpoint_of_another_config(tmp_path):
    config, out = _tiny_config(tmp_path, epochs=1), tmp_path / "run"
    assert _train_cli(config, out).wait(timeout=120) == 0
    again = _train_cli(config, out)  # without --resume a finished run is never overwritten
    assert again.wait(timeout=120) == 2 and "--resume" in again.stderr.read()
    data = yaml.safe_load(config.read_text())
    data["train"]["base_lr"] = 0.05
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(data))
    proc = _train_cli(other, out, "--resume")
    assert proc.wait(timeout=120) == 2
    assert "another config" in proc.stderr.read()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.gpu
def test_training_runs_on_cuda_with_mixed_precision(tmp_path):
    cfg = load_config(_tiny_config(tmp_path, epochs=1))
    result = train_supernet(cfg, tmp_path / "run", torch.device("cuda"), progress=False)
    assert os.path.exists(result.checkpoint)
