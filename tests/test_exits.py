"""Early exits: plans, heads vs skeleton, the simulator against a per-sample reference, real
early-exit inference against the simulator, and exit-bank reuse and resume."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hadas.errors import ConfigError, CorruptFileError
from hadas.exits import (ExitCache, ExitHead, ExitSimulator, build_heads, prepare_exits,
                         train_exits)
from hadas.exits import bank as bank_module
from hadas.data import TensorLoader
from hadas.exits.network import MultiExitNetwork
from hadas.model import create_supernet
from hadas.model.flops import count_macs
from hadas.space import ExitPlan, candidate_positions, exit_head_layers, reference_backbone, segments
from hadas.space.policies import POLICIES

# --- plans and segments ---------------------------------------------------------------------------


def test_candidate_positions_follow_the_hadas_rule():
    assert candidate_positions(17) == tuple(range(5, 17))  # a0: 12 candidates
    assert len(candidate_positions(22)) == 17               # a6
    assert candidate_positions(7, first_exit_block=2) == (2, 3, 4, 5, 6)


def test_exit_plan_is_validated():
    assert ExitPlan((9, 5)).positions == (5, 9)
    assert ExitPlan((5, 9), threshold=(0.5, 0.9)).thresholds == (0.5, 0.9)
    with pytest.raises(ConfigError, match="unique"):
        ExitPlan((5, 5))
    with pytest.raises(ConfigError, match="exits.policy"):
        ExitPlan((5,), policy="softmax")
    with pytest.raises(ConfigError, match="one value per exit"):
        ExitPlan((5, 9), threshold=(0.5,))
    with pytest.raises(ConfigError, match="4 is not a candidate"):
        ExitPlan((4,)).validate(17)
    assert ExitPlan.from_dict(ExitPlan((5, 9), "entropy", (0.1, 0.2)).to_dict()) == \
        ExitPlan((5, 9), "entropy", (0.1, 0.2))


def test_segments_add_up_and_exit_heads_match_real_modules(cifar100_cfg):
    net = create_supernet(cifar100_cfg)
    sk = net.space.skeleton(reference_backbone(net.space, "a0"))
    plan = ExitPlan((5, 9, 14))
    segs = segments(sk, plan, 224)
    assert [s.kind for s in segs] == ["backbone", "exit"] * 3 + ["backbone"]
    assert sum(s.macs for s in segs if s.kind == "backbone") == sk.macs
    assert [b for s in segs for b in s.blocks] == list(range(sk.n_blocks))
    heads = build_heads(sk, plan.positions, 224)
    for p in plan.positions:
        b = sk.blocks[p]
        real = count_macs(heads[str(p)], (b.out_channels, b.out_size, b.out_size))
        assert real == sum(layer.macs for layer in exit_head_layers(sk, p, 224))


def test_exit_head_shrinks_its_kernel_on_tiny_maps():
    head = ExitHead(16, 8, 10, kernel=1)
    assert head(torch.randn(2, 16, 1, 1)).shape == (2, 10)


# --- the simulator against a per-sample reference -------------------------------------------------


def _random_cache(rng: np.random.Generator, n: int, k: int, confidence: bool) -> ExitCache:
    labels = rng.integers(0, 5, n)
    pred = np.where(rng.random((k + 1, n)) < 0.6, labels, rng.integers(0, 5, (k + 1, n)))
    conf = rng.random((k + 1, n)).astype(np.float32) if confidence else None
    return ExitCache(tuple(range(3, 3 + k)), labels, pred.astype(np.int16), pred == labels,
                     rng.random((k + 1, n)).astype(np.float32),
                     (rng.random((k + 1, n)) * 2).astype(np.float32), conf)


def _reference(cache: ExitCache, plan: ExitPlan) -> tuple[np.ndarray, np.ndarray]:
    """Exit index and correctness of every sample, one sample at a time."""
    rows = [cache.row(p) for p in plan.positions]
    index, right = [], []
    for s in range(cache.n_samples):
        leave = len(rows)
        for j, (r, t) in enumerate(zip(rows, plan.thresholds)):
            hit = {"max_softmax": cache.max_softmax[r, s] >= np.float32(t),
                   "entropy": cache.entropy[r, s] <= np.float32(t),
                   "confidence": cache.confidence is not None
                   and cache.confidence[r, s] >= np.float32(t),
                   "oracle": cache.correct[r, s]}[plan.policy]
            if hit:
                leave = j
                break
        index.append(leave)
        right.append(cache.correct[(rows + [len(cache.positions)])[leave], s])
    return np.array(index), np.array(right)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), policy=st.sampled_from(["max_softmax", "entropy",
                                                            "confidence", "oracle"]),
       per_exit=st.booleans(), data=st.data())
def test_simulator_matches_a_per_sample_reference(seed, policy, per_exit, data):
    rng = np.random.default_rng(seed)
    cache = _random_cache(rng, n=200, k=8, confidence=True)
    positions = tuple(data.draw(st.lists(st.sampled_from(cache.positions), min_size=0,
                                         max_size=8, unique=True)))
    thresholds = tuple(float(t) for t in rng.random(len(positions))) if per_exit and positions \
        else float(rng.random())
    plan = ExitPlan(positions, policy, thresholds)
    sim = ExitSimulator(cache).simulate(plan, per_sample=True)
    index, right = _reference(cache, plan)
    assert np.array_equal(sim.exit_index, index)
    assert sim.top1 == pytest.approx(100 * right.mean())
    counts = np.bincount(index, minlength=len(positions) + 1)
    assert np.allclose(sim.exit_rates, counts / cache.n_samples)
    for j, c in enumerate(counts):
        if c:
            assert sim.exit_accuracy[j] == pytest.approx(100 * right[index == j].mean())
        else:
            assert np.isnan(sim.exit_accuracy[j])


def test_oracle_is_an_upper_bound_of_any_threshold_policy():
    cache = _random_cache(np.random.default_rng(1), n=500, k=6, confidence=False)
    sim = ExitSimulator(cache)
    plan = (3, 5, 7)
    oracle = sim.simulate(ExitPlan(plan, "oracle")).top1
    for t in (0.1, 0.5, 0.9):
        assert sim.simulate(ExitPlan(plan, "max_softmax", t)).top1 <= oracle
    rows = [cache.row(p) for p in plan] + [len(cache.positions)]
    assert oracle == pytest.approx(100 * cache.correct[rows].any(axis=0).mean())


def test_a_plan_without_exits_is_the_final_classifier():
    cache = _random_cache(np.random.default_rng(2), n=300, k=4, confidence=False)
    sim = ExitSimulator(cache).simulate(ExitPlan(()))
    assert sim.exit_rates.tolist() == [1.0]
    assert sim.top1 == pytest.approx(100 * cache.correct[-1].mean())


# --- real networks (tiny supernet, quickly trained heads) -----------------------------------------


@pytest.fixture(scope="module")
def tiny_bank(tiny_cfg, tmp_path_factory):
    import dataclasses

    from hadas.data import load_data
    cfg = dataclasses.replace(tiny_cfg, exits=dataclasses.replace(tiny_cfg.exits, epochs=2,
                                                                  warmup_epochs=1))
    torch.manual_seed(0)
    supernet = create_supernet(cfg).eval()
    data = load_data(cfg.data)
    root = tmp_path_factory.mktemp("banks")
    art = prepare_exits(cfg, supernet, "untrained-0", supernet.space.largest(), data, root,
                        torch.device("cpu"), progress=False)
    return cfg, supernet, data, root, art


def test_real_early_exit_inference_equals_the_simulator_sample_by_sample(tiny_bank):
    assert_inference_matches_simulator(tiny_bank[4], tiny_bank[2])


def assert_inference_matches_simulator(art, data) -> None:
    """Real early-exit inference of a bank's network takes, sample by sample, the exits and
    predictions that the simulator takes from its exit cache, for every deployable policy."""
    x = torch.cat([b for b, _ in TensorLoader(data.split("test"), 128, mean=data.mean,
                                              std=data.std)])
    cache, sim = art.cache, ExitSimulator(art.cache)
    pos = art.positions
    plans = []
    for policy in POLICIES:  # every deployable policy registered, each its own score
        scores = getattr(cache, policy.score)
        if not policy.deployable or scores is None:  # oracle: a bound; confidence: no branch
            continue
        q = 0.6 if policy.leaves_above else 0.4  # about 40 % leave at each exit
        for chosen in dict.fromkeys([tuple(sorted({pos[0], pos[3], pos[-2]})), pos[1::2], pos]):
            rows = [cache.row(p) for p in chosen]
            plans.append(ExitPlan(chosen, policy.name, float(np.quantile(scores[rows], q))))
            per_exit = tuple(float(np.quantile(scores[r], q)) for r in rows)
            plans.append(ExitPlan(chosen, policy.name, per_exit))
    assert {p.policy for p in plans} >= {"max_softmax", "entropy"}
    spread = []
    for plan in plans:
        expected = sim.simulate(plan, per_sample=True)
        pred, index = art.network.early_exit(x, plan)
        assert np.array_equal(index.numpy(), expected.exit_index), plan
        rows = np.array([cache.row(p) for p in plan.positions] + [len(pos)])
        assert np.array_equal(pred.numpy(),
                              cache.pred[rows[expected.exit_index], np.arange(len(index))]), plan
        spread.append(len(np.unique(index.numpy())))
    assert max(spread) >= 3  # the plans really send samples to several exits


def test_the_same_bank_is_never_trained_twice(tiny_bank, monkeypatch):
    cfg, supernet, data, root, first = tiny_bank
    assert first.trained_now

    def refuse(*args, **kwargs):
        raise AssertionError("trained again")

    inherited = []
    real_inherit = bank_module.inherit
    monkeypatch.setattr(bank_module, "train_exits", refuse)
    monkeypatch.setattr(bank_module, "inherit", lambda *a: inherited.append(1) or real_inherit(*a))
    again = prepare_exits(cfg, supernet, "untrained-0", supernet.space.largest(), data, root,
                          torch.device("cpu"), progress=False)
    assert not again.trained_now and again.key == first.key
    assert np.array_equal(again.cache.pred, first.cache.pred)
    # bank and cache stored: the search needs neither the backbone nor its BN re-estimated
    assert inherited == [] and again.positions == first.positions
    # the network is built on first use only, once, and is the trained one
    x = torch.cat([b for b, _ in TensorLoader(data.split("test"), 64, mean=data.mean,
                                              std=data.std)])[:64]
    assert torch.equal(again.network(x).logits[0], first.network(x).logits[0])
    assert again.network is again.network and inherited == [1]
    # another supernet (weights id) is another bank
    assert bank_module.exit_bank_key(cfg, supernet.space.largest(), "other") != first.key


def test_exit_training_resumes_after_a_crash(tiny_bank, tmp_path):
    cfg, supernet, data, _, _ = tiny_bank

    def network() -> MultiExitNetwork:
        torch.manual_seed(0)
        sub = supernet.extract(supernet.space.smallest()).eval()
        return MultiExitNetwork(sub, build_heads(sub.skeleton, (2, 4), 16))

    class Crash(Exception):
        pass

    def crash_after_first(epoch: int, loss: float) -> None:
        if epoch == 1:
            raise Crash

    ckpt = tmp_path / "training.pt"
    recipe = cfg.exits.__class__(exit_channels=16, epochs=2, warmup_epochs=1)
    with pytest.raises(Crash):
        train_exits(network(), data, recipe, ckpt, torch.device("cpu"), progress=False,
                    on_epoch=crash_after_first)
    resumed = train_exits(network(), data, recipe, ckpt, torch.device("cpu"), progress=False)
    straight = train_exits(network(), data, recipe, tmp_path / "straight.pt",
                           torch.device("cpu"), progress=False)
    assert [h["epoch"] for h in resumed] == [1, 2]
    assert resumed[1]["loss"] == pytest.approx(straight[1]["loss"], rel=1e-5)


# --- corrupt banks ------------------------------------------------------------------------------

def _copy_of_bank(tiny_bank, tmp_path):
    import shutil
    cfg, supernet, data, root, art = tiny_bank
    copy = tmp_path / "banks"
    shutil.copytree(root, copy)
    return cfg, supernet, data, copy, copy / art.key


def _prepare(cfg, supernet, data, root):
    return prepare_exits(cfg, supernet, "untrained-0", supernet.space.largest(), data, root,
                         torch.device("cpu"), progress=False)


def _truncate(path, keep: float = 0.5) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[:int(len(raw) * keep)])


def test_a_truncated_exit_cache_says_how_to_recover_and_is_rebuilt_once_deleted(
        tiny_bank, tmp_path, monkeypatch):
    cfg, supernet, data, root, folder = _copy_of_bank(tiny_bank, tmp_path)
    first = tiny_bank[-1]
    _truncate(folder / "cache.npz")
    with pytest.raises(CorruptFileError) as info:
        _prepare(cfg, supernet, data, root)
    message = str(info.value)
    assert "cache.npz is corrupt" in message and "delete it and rerun" in message
    assert "\n" not in message
    monkeypatch.setattr(bank_module, "train_exits", lambda *a, **k: pytest.fail("retrained"))
    (folder / "cache.npz").unlink()
    again = _prepare(cfg, supernet, data, root)  # the heads in bank.pt are reused
    assert not again.trained_now and np.array_equal(again.cache.pred, first.cache.pred)


def test_an_exit_cache_of_other_exits_is_refused_not_used(tiny_bank, tmp_path):
    cfg, supernet, data, root, folder = _copy_of_bank(tiny_bank, tmp_path)
    cache = ExitCache.load(folder / "cache.npz")
    fewer = ExitCache(cache.positions[1:], cache.labels, cache.pred[1:], cache.correct[1:],
                      cache.max_softmax[1:], cache.entropy[1:], None)
    fewer.save(folder / "cache.npz")
    with pytest.raises(CorruptFileError, match="holds exits"):
        _prepare(cfg, supernet, data, root)
    np.savez(folder / "cache.npz", positions=np.array(cache.positions), labels=cache.labels,
             pred=cache.pred[:, :5], correct=cache.correct, max_softmax=cache.max_softmax,
             entropy=cache.entropy)
    with pytest.raises(CorruptFileError, match="shapes"):
        ExitCache.load(folder / "cache.npz")


@pytest.mark.parametrize("damage", ["truncated", "other backbone"])
def test_a_damaged_bank_file_says_how_to_recover(tiny_bank, tmp_path, damage):
    cfg, supernet, data, root, folder = _copy_of_bank(tiny_bank, tmp_path)
    bank = folder / "bank.pt"
    if damage == "truncated":
        _truncate(bank)
    else:
        stored = torch.load(bank, weights_only=False)
        stored["backbone"] = supernet.space.smallest().to_dict()
        torch.save(stored, bank)
    with pytest.raises(CorruptFileError) as info:
        _prepare(cfg, supernet, data, root)
    assert "bank.pt is corrupt" in str(info.value) and "delete it and rerun" in str(info.value)
    assert "\n" not in str(info.value)


def test_a_truncated_exit_training_state_says_how_to_recover(tiny_bank, tmp_path):
    cfg, supernet, data, _, _ = tiny_bank
    sub = supernet.extract(supernet.space.smallest()).eval()
    net = MultiExitNetwork(sub, build_heads(sub.skeleton, (2, 4), 16))
    ckpt = tmp_path / "training.pt"
    torch.save({"heads": {}, "epoch": 1}, ckpt)  # written by something else
    recipe = cfg.exits.__class__(exit_channels=16, epochs=1, warmup_epochs=0)
    with pytest.raises(CorruptFileError, match="training.pt is corrupt"):
        train_exits(net, data, recipe, ckpt, torch.device("cpu"), progress=False)
    ckpt.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CorruptFileError, match="delete it and rerun"):
        train_exits(net, data, recipe, ckpt, torch.device("cpu"), progress=False)
