"""Shared exit heads: one bank for the supernet, inherited by backbones as ordinary heads that
the exit cache, real early-exit inference and the simulator use unchanged; the bank trains
once, resumes after SIGKILL, and leaves the supernet as it was."""
from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from hadas.config import config_from_dict, load_config
from hadas.data import load_data
from hadas.exits import ExitSimulator, build_heads, prepare_exits
from hadas.exits import bank as bank_module
from hadas.exits import shared as shared_module
from hadas.exits.shared import SharedExitHeads, batch_statistics, shared_bank, shared_bank_key
from hadas.model import create_supernet, read_stored_checkpoint
from hadas.model.flops import count_macs
from hadas.space import candidate_positions, exit_head_layers
from conftest import CONFIGS, raises_config_error, small_config
from test_exits import assert_inference_matches_simulator

CPU = torch.device("cpu")


def _shared_cfg(tiny_cfg, **overrides):
    exits = dict(epochs=2, warmup_epochs=1, training="shared") | overrides
    return dataclasses.replace(tiny_cfg, exits=dataclasses.replace(tiny_cfg.exits, **exits))


@pytest.fixture(scope="module")
def shared_setup(tiny_cfg, tmp_path_factory):
    cfg = _shared_cfg(tiny_cfg)
    torch.manual_seed(0)
    supernet = create_supernet(cfg).eval()
    return cfg, supernet, load_data(cfg.data), tmp_path_factory.mktemp("banks")


def _backbones(space, n=4):
    rng = np.random.default_rng(1)
    return [space.smallest(), space.largest()] + [space.sample(rng) for _ in range(n)]


def test_inherited_heads_have_the_per_backbone_shape_and_compute_the_shared_head(tiny_cfg,
                                                                                 cifar100_cfg):
    for cfg in (tiny_cfg, cifar100_cfg):
        supernet = create_supernet(cfg)
        bank = SharedExitHeads(supernet.spec, cfg.exits.first_exit_block, 24, confidence=True)
        for b in _backbones(supernet.space):
            sk = supernet.space.skeleton(b)
            positions = candidate_positions(sk.n_blocks, cfg.exits.first_exit_block)
            inherited = bank.for_backbone(sk, positions)
            fresh = build_heads(sk, positions, 24, confidence=True)
            assert {k: v.shape for k, v in inherited.state_dict().items()} == \
                {k: v.shape for k, v in fresh.state_dict().items()}
            p = positions[len(positions) // 2]
            block = sk.blocks[p]
            x = torch.randn(2, block.out_channels, block.out_size, block.out_size)
            shared_head = bank.head(block).eval()
            head = inherited[str(p)].eval()
            torch.testing.assert_close(head(x), shared_head(x))
            # the hardware model costs what runs
            assert count_macs(head, (block.out_channels, block.out_size, block.out_size)) == \
                sum(layer.macs for layer in exit_head_layers(sk, p, 24))


def test_the_tiny_resolutions_give_heads_per_kernel(tiny_cfg):
    bank = SharedExitHeads(create_supernet(tiny_cfg).spec, 2, 8)
    # 24 px and 32 px give blocks of 3 and 4 px after mb3: both kernel 3, one head
    assert "4k3" in bank.heads and "4k2" not in bank.heads
    assert all(int(k.split("k")[0]) >= 2 for k in bank.heads)


def test_shared_heads_give_an_exit_cache_that_real_inference_and_the_simulator_agree_on(
        shared_setup, monkeypatch):
    cfg, supernet, data, root = shared_setup
    trained = []
    real = shared_module.train_shared_exits
    monkeypatch.setattr(shared_module, "train_shared_exits",
                        lambda *a, **k: trained.append(1) or real(*a, **k))
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    arts = [prepare_exits(cfg, supernet, "untrained-0", b, data, root, CPU, progress=False)
            for b in (supernet.space.largest(), supernet.space.smallest())]
    assert trained == [1]  # one bank for both backbones
    for art in arts:
        assert art.trained_now and art.history == []  # no fine-tune asked for
        assert_inference_matches_simulator(art, data)
        assert np.array_equal(ExitSimulator(art.cache).cache.pred, art.cache.pred)
    # the supernet is as it was: weights, BN statistics, mode and active sub-network
    after = supernet.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not supernet.training and supernet.active.backbone == supernet.space.largest()


def test_inherited_heads_have_their_bn_estimated_on_the_backbone(shared_setup):
    cfg, supernet, data, root = shared_setup
    b = supernet.space.smallest()
    art = prepare_exits(cfg, supernet, "untrained-0", b, data, root, CPU, progress=False)
    bank = shared_bank(cfg, supernet, "untrained-0", data, root, CPU, progress=False)
    sk = supernet.space.skeleton(b)
    p = art.positions[0]
    inherited = art.network.head(p)
    source = bank.head(sk.blocks[p])
    torch.testing.assert_close(inherited.conv.weight,
                               source.conv.weight[:, :sk.blocks[p].out_channels])
    assert not torch.equal(inherited.bn.running_mean, source.bn.running_mean)


def test_a_fine_tune_trains_the_inherited_heads_for_its_epochs(shared_setup):
    cfg, supernet, data, root = shared_setup
    tuned = dataclasses.replace(cfg, exits=dataclasses.replace(cfg.exits, finetune_epochs=1))
    b = supernet.space.smallest()
    plain = prepare_exits(cfg, supernet, "untrained-0", b, data, root, CPU, progress=False)
    art = prepare_exits(tuned, supernet, "untrained-0", b, data, root, CPU, progress=False)
    assert [h["epoch"] for h in art.history] == [1] and art.key != plain.key
    assert not torch.equal(art.network.head(art.positions[0]).conv.weight,
                           plain.network.head(plain.positions[0]).conv.weight)
    # a fine-tune reuses the bank: its key leaves the fine-tune out
    assert shared_bank_key(tuned, "x") == shared_bank_key(cfg, "x")


def test_keys_name_the_recipe_and_per_backbone_banks_kept_theirs(tiny_cfg):
    import hadas.digest
    b = create_supernet(tiny_cfg).space.largest()
    old_recipe = {k: v for k, v in dataclasses.asdict(tiny_cfg.exits).items()
                  if k not in ("policy", "threshold", "training", "shared_sampling",
                               "finetune_epochs")}
    old = hadas.digest.json_digest({"backbone": b.to_dict(), "supernet": "s",
                                    "data": dataclasses.asdict(tiny_cfg.data),
                                    "evaluation": dataclasses.asdict(tiny_cfg.evaluation),
                                    "exits": old_recipe, "seed": tiny_cfg.seed}, 20)
    assert bank_module.exit_bank_key(tiny_cfg, b, "s") == old
    shared = _shared_cfg(tiny_cfg, epochs=tiny_cfg.exits.epochs,
                         warmup_epochs=tiny_cfg.exits.warmup_epochs)
    sandwich = _shared_cfg(tiny_cfg, shared_sampling="sandwich")
    keys = {bank_module.exit_bank_key(c, b, "s") for c in (tiny_cfg, shared, sandwich)}
    assert len(keys) == 3
    assert shared_bank_key(shared, "s") != shared_bank_key(shared, "other")


def test_a_fine_tune_needs_shared_heads():
    raw = load_config(CONFIGS / "tiny-digits.yaml").to_dict()
    raw["exits"]["finetune_epochs"] = 2
    with raises_config_error("exits.finetune_epochs", "shared"):
        config_from_dict(raw)
    raw["exits"]["training"] = "per-layer"
    with raises_config_error("exits.training", "per-backbone", "shared"):
        config_from_dict(raw)


def test_batch_statistics_restore_the_supernet_after_an_error(tiny_cfg):
    supernet = create_supernet(tiny_cfg).eval()
    supernet.activate(supernet.space.smallest())
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    with pytest.raises(RuntimeError, match="boom"):
        with batch_statistics(supernet):
            supernet.activate(supernet.space.largest())
            supernet(torch.randn(4, 3, 8, 8))  # updates running statistics in training mode
            raise RuntimeError("boom")
    assert all(torch.equal(v, supernet.state_dict()[k]) for k, v in before.items())
    assert not supernet.training and supernet.active.backbone == supernet.space.smallest()


TRAIN_BANK = """
import dataclasses, sys, torch
from hadas.config import load_config
from hadas.data import load_data
from hadas.exits import shared
from hadas.model import create_supernet
cfg = load_config(sys.argv[1])
cfg = dataclasses.replace(cfg, seed=int(sys.argv[4]), exits=dataclasses.replace(
    cfg.exits, training="shared", epochs=int(sys.argv[3]), warmup_epochs=1))
torch.manual_seed(0)
supernet = create_supernet(cfg).eval()
train = shared.train_shared_exits
shared.train_shared_exits = lambda *a, **k: print("trained", flush=True) or train(*a, **k)
shared.shared_bank(cfg, supernet, "untrained-0", load_data(cfg.data), sys.argv[2],
                   torch.device("cpu"), progress=False)
"""


def _train_bank(root, epochs: int, seed: int = 0) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", TRAIN_BANK, str(CONFIGS / "tiny-digits.yaml"),
                             str(root), str(epochs), str(seed)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_a_shared_bank_killed_with_sigkill_resumes_from_its_last_checkpoint(tiny_cfg, tmp_path):
    root = tmp_path / "banks"
    cfg = _shared_cfg(tiny_cfg, epochs=6)
    checkpoint = root / f"shared-{shared_bank_key(cfg, 'untrained-0')}" / "training.pt"
    proc = _train_bank(root, 6)
    deadline = time.monotonic() + 240
    kept = None
    while time.monotonic() < deadline and kept is None:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            kept = read_stored_checkpoint(checkpoint) if checkpoint.exists() else None
        except Exception:  # being replaced right now: try again
            kept = None
        time.sleep(0.05)
    assert kept is not None, "no epoch finished in 240 s"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = read_stored_checkpoint(checkpoint)  # what the kill left
    assert 1 <= kept["epoch"] < 6 and not (checkpoint.parent / "heads.pt").exists()

    torch.manual_seed(0)
    supernet = create_supernet(cfg).eval()
    data = load_data(cfg.data)
    resumed = shared_bank(cfg, supernet, "untrained-0", data, root, CPU, progress=False)
    stored = read_stored_checkpoint(checkpoint.parent / "heads.pt")
    assert [h["epoch"] for h in stored["history"]] == list(range(1, 7))
    assert stored["history"][:kept["epoch"]] == kept["history"]  # finished epochs not redone
    straight = shared_bank(cfg, supernet, "untrained-0", data, tmp_path / "straight", CPU,
                           progress=False)
    for (k, v), w in zip(resumed.state_dict().items(), straight.state_dict().values()):
        torch.testing.assert_close(v, w, rtol=1e-4, atol=1e-5, msg=k)
    # reading the bank again trains nothing
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(shared_module, "train_heads", None)
        shared_bank(cfg, supernet, "untrained-0", data, root, CPU, progress=False)


@pytest.mark.slow
def test_a_search_on_shared_heads_exports_a_program_that_reproduces_the_run(tmp_path,
                                                                           one_torch_thread):
    from hadas import api
    config = small_config(tmp_path / "shared.yaml", train=dict(epochs=1, warmup_epochs=0),
                          exits=dict(epochs=1, warmup_epochs=0, training="shared"),
                          ooe=dict(population=3, generations=1, n_crossover=1, n_mutation=1,
                                   survival_ratio=0.5),
                          ioe=dict(population=4, generations=1, n_crossover=2, n_mutation=2))
    result, run = api.search(config, run_dir=tmp_path / "run", device="cpu", progress=False,
                             say=lambda s: None, supernet_dir=tmp_path / "supernet")
    exits = tmp_path / "supernet" / "exits"
    assert len(list(exits.glob("shared-*/heads.pt"))) == 1  # one bank for every backbone
    assert result.stats.computed["ioe"] >= 2 and result.archive
    manifest = api.export_dynn(run, 0, tmp_path / "bundle", device="cpu")
    assert manifest["verification"]["program_matches_run"], manifest["verification"]


def test_searches_of_any_seed_share_one_bank_trained_by_one_process(tiny_cfg, tmp_path):
    """Two processes (as process-executor workers, here with different search seeds) ask for
    the bank at once: one trains it, the other waits and reads it."""
    cfg = _shared_cfg(tiny_cfg)
    assert shared_bank_key(dataclasses.replace(cfg, seed=7), "s") == shared_bank_key(cfg, "s")
    procs = [_train_bank(tmp_path, 2, seed) for seed in (0, 7)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    assert sorted(out.count("trained") for out, _ in outs) == [0, 1]
    assert len(list(tmp_path.glob("shared-*/heads.pt"))) == 1
