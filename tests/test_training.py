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
from hadas.space import BackboneSpace
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


def test_only_the_largest_of_a_sandwich_step_gets_dropout_and_drop_connect(tmp_path,
                                                                           monkeypatch):
    """One training step, every forward pass watched: dropout is seen as a classifier input
    that differs from the head's output, drop-connect as a residual branch it rescaled."""
    import dataclasses

    import hadas.model.supernet as supernet_module
    import hadas.training.supernet_trainer as trainer
    from hadas.config import config_from_dict
    from hadas.data import load_data

    dropout, rate = 0.5, 0.3
    data = yaml.safe_load((CONFIGS / "tiny-digits.yaml").read_text())
    data["model"].update(dropout=dropout, drop_connect=rate)
    data["train"].update(epochs=1, warmup_epochs=0, batch_size=16, num_random_subnets=3)
    cfg = config_from_dict(data)
    splits = load_data(cfg.data)
    splits = dataclasses.replace(splits, train=splits.train.subset(torch.arange(16)))  # 1 step

    passes: list[dict] = []
    current: list[int] = []  # supernet index of the block running now
    real_drop_connect, real_create = supernet_module.drop_connect, trainer.create_supernet

    def watched_drop_connect(x, p, training):
        out = real_drop_connect(x, p, training)
        if not torch.equal(out, x):
            passes[-1]["drop_connect"][current[-1]] = p
        return out

    def watched_create(cfg_):
        net = real_create(cfg_)
        net.register_forward_pre_hook(lambda m, args: passes.append(
            {"backbone": m.active.backbone, "drop_connect": {}}))
        net.head.register_forward_hook(lambda m, args, out: passes[-1].update(head=out))
        net.classifier.register_forward_pre_hook(lambda m, args: passes[-1].update(
            dropout=not torch.equal(args[0], passes[-1]["head"])))
        for i, block in enumerate(net.blocks):
            block.register_forward_pre_hook(lambda m, args, i=i: current.append(i))
        return net

    monkeypatch.setattr(supernet_module, "drop_connect", watched_drop_connect)
    monkeypatch.setattr(trainer, "create_supernet", watched_create)
    train_supernet(cfg, tmp_path / "run", torch.device("cpu"), data=splits, progress=False)

    space = BackboneSpace(cfg.supernet)
    assert len(passes) == 2 + 3  # largest, smallest, 3 random
    assert passes[0]["backbone"] == space.largest()
    assert passes[1]["backbone"] == space.smallest()
    n = sum(max(stage.depths) for stage in cfg.supernet.mb_stages)  # 16 supernet blocks
    largest = space.skeleton(space.largest())
    expected = {b.supernet_index: rate * b.supernet_index / n for b in largest.blocks
                if b.stage in ("mb6", "mb7") and b.in_channels == b.out_channels
                and b.stride == 1}
    assert sorted(expected) == [12, 13, 15]  # mb6's strided first block, mb7's 64->72 one: none
    assert passes[0]["dropout"] is True
    assert passes[0]["drop_connect"] == pytest.approx(expected)
    for p in passes[1:]:
        assert p["dropout"] is False and p["drop_connect"] == {}, p["backbone"]
