"""Backbone evaluation by weight inheritance, and the embedded supernet's acceptance figures.

The module trains the embedded tiny supernet once (the real recipe of configs/tiny-digits.yaml,
about 2-3 minutes on 2 CPU cores) and checks the accuracy the README promises.
"""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
import torch

from hadas.data import TensorLoader, load_data
from hadas.evaluation import evaluate_backbone, reestimate_bn
from hadas.model import create_supernet, load_supernet
from hadas.training import train_supernet
from hadas.training.inheritance import bn_loader, inherit

from conftest import CONFIGS, raises_config_error

TINY = CONFIGS / "tiny-digits.yaml"


@pytest.fixture(scope="module")
def trained(tiny_cfg, tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny-supernet")
    result = train_supernet(tiny_cfg, out, torch.device("cpu"), progress=False)
    return result.checkpoint


@pytest.fixture(scope="module")
def digits(tiny_cfg):
    return load_data(tiny_cfg.data)


def test_recalibrated_bn_holds_the_statistics_of_the_calibration_batches(tiny_cfg, digits):
    supernet = create_supernet(tiny_cfg)
    net = supernet.extract(supernet.space.smallest()).eval()
    loader = TensorLoader(digits.train, 64, mean=digits.mean, std=digits.std)
    stem_inputs = []
    hook = net.stem.bn.register_forward_hook(lambda m, i, o: stem_inputs.append(i[0]))
    seen = reestimate_bn(net, loader, n_batches=3)
    hook.remove()
    assert seen == 3 * 64 and not net.training
    x = torch.cat(stem_inputs)
    torch.testing.assert_close(net.stem.bn.running_mean, x.mean((0, 2, 3)), rtol=1e-4, atol=1e-5)
    assert net.stem.bn.momentum == 0.1  # restored after the cumulative average


def test_bn_re_estimation_leaves_out_a_last_batch_of_one_image(tiny_cfg, digits):
    """129 training images in batches of 64: the third batch (one image) once crashed BN."""
    small = dataclasses.replace(digits, train=digits.train.subset(torch.arange(129)))
    cfg = dataclasses.replace(tiny_cfg.evaluation, bn_calibration_batches=16)
    loader = bn_loader(small, cfg, "cpu")
    assert [len(y) for _, y in loader] == [64, 64]
    supernet = create_supernet(tiny_cfg)
    net = inherit(supernet, supernet.space.smallest(), small, cfg, "cpu")
    assert not net.training
    with raises_config_error("evaluation.bn_calibration_batch_size", "larger than", "129"):
        bn_loader(small, dataclasses.replace(cfg, bn_calibration_batch_size=200), "cpu")


@pytest.mark.slow
def test_embedded_supernet_reaches_the_promised_accuracy(tiny_cfg, trained, digits):
    """Acceptance: largest >= 90 %, smallest >= 80 % top-1 on the digits test split."""
    net = load_supernet(tiny_cfg, trained)
    space = net.space
    largest = evaluate_backbone(net, space.largest(), digits, tiny_cfg.evaluation)
    smallest = evaluate_backbone(net, space.smallest(), digits, tiny_cfg.evaluation)
    assert largest.top1 >= 90.0, largest
    assert smallest.top1 >= 80.0, smallest
    assert largest.n_eval == len(digits.test) and largest.split == "test"
    # deterministic: same seed, same calibration batches, same accuracy
    again = evaluate_backbone(net, space.smallest(), digits, tiny_cfg.evaluation)
    assert again.top1 == smallest.top1


@pytest.mark.slow
def test_inherited_weights_beat_untrained_ones(tiny_cfg, trained, digits):
    untrained = create_supernet(tiny_cfg)
    arch = untrained.space.largest()
    fresh = evaluate_backbone(untrained, arch, digits, tiny_cfg.evaluation)
    inherited = evaluate_backbone(load_supernet(tiny_cfg, trained), arch, digits,
                                  tiny_cfg.evaluation)
    assert fresh.top1 < 50.0 < inherited.top1


@pytest.mark.slow
def test_evaluate_command_prints_top1_mflops_and_parameters(trained):
    arch = json.dumps({"resolution": 24, "width": [8, 16, 16, 24, 32, 40, 56, 64, 128],
                       "depth": [1, 2, 1, 2, 2, 1, 1], "kernel_size": [3, 5, 3, 3, 5, 3, 3],
                       "expand_ratio": [1, 4, 3, 6, 4, 6, 6]})
    for a in ("max", arch):
        out = subprocess.run([sys.executable, "-m", "hadas.cli.main", "evaluate", "--config",
                              str(TINY), "--checkpoint", str(trained), "--arch", a, "--json",
                              "--device", "cpu"], capture_output=True, text=True, check=True)
        row = json.loads(out.stdout)
        assert row["top1"] > 50.0 and row["split"] == "test"
        assert row["mflops"] > 0 and row["mparams"] > 0


@pytest.mark.slow
def test_exit_bank_of_the_trained_supernet_meets_the_acceptance(trained, tmp_path):
    """Exits get better with depth on average; the deepest early exit is within 10 points of
    the final classifier. Then `hadas exits eval` reuses the bank."""
    cli = [sys.executable, "-m", "hadas.cli.main", "exits"]
    common = ["--config", str(TINY), "--checkpoint", str(trained), "--arch", "max",
              "--out", str(tmp_path), "--device", "cpu", "--quiet", "--json"]
    out = subprocess.run([*cli, "train", *common], capture_output=True, text=True, check=True)
    report = json.loads(out.stdout)
    assert report["trained_now"]
    acc = [e["top1"] for e in report["exits"]]
    early, final = acc[:-1], acc[-1]
    half = len(early) // 2
    assert sum(early[half:]) / len(early[half:]) > sum(early[:half]) / half
    assert early[-1] >= final - 10.0
    out = subprocess.run([*cli, "eval", *common, "--exits", "5,9,13", "--threshold", "0.6"],
                         capture_output=True, text=True, check=True)
    ev = json.loads(out.stdout)
    assert ev["plan"]["positions"] == [5, 9, 13]
    assert sum(ev["exit_rates"]) == pytest.approx(1.0, abs=1e-3)
    assert 0 < ev["top1"] <= 100
    again = subprocess.run([*cli, "train", *common], capture_output=True, text=True, check=True)
    assert json.loads(again.stdout)["trained_now"] is False


def test_a_search_takes_a_calibrated_platform_file_and_says_so(tiny_cfg, trained, tmp_path):
    """`search.platform: my-board-cal.yaml` (written by `hadas hw calibrate`) is what the
    evaluators cost with, and their numbers are labelled by what was fitted."""
    import yaml

    from hadas.evaluation.pipeline import build_evaluators
    from hadas.hardware import get_platform
    from hadas.space import BackboneSpace, reference_backbone

    data = get_platform("agx-xavier").to_dict()
    data["calibration"] = {"fitted": ["latency"], "profile": "made in the test"}
    path = tmp_path / "agx-xavier-cal.yaml"
    path.write_text(yaml.safe_dump(data))
    ev = build_evaluators(tiny_cfg, str(trained), str(path), str(tmp_path / "exits"), "cpu")
    value = ev.backbone(reference_backbone(BackboneSpace(tiny_cfg.supernet), "min"))
    assert value["provenance"] == {"latency_ms": "calibrated", "energy_mj": "modelled"}


@pytest.mark.slow
def test_a_backbone_scored_then_given_exits_has_its_bn_re_estimated_once(tiny_cfg, trained,
                                                                         tmp_path):
    """The OOE scores a backbone alone, the IOE then gives it exits: one BN re-estimation, and
    the network inherited the second time is the one a fresh inheritance gives."""
    from hadas.evaluation.pipeline import build_evaluators

    ev = build_evaluators(tiny_cfg, str(trained), "agx-xavier", str(tmp_path / "exits"), "cpu")
    b = ev.supernet.space.smallest()
    ev.backbone(b)
    ev.ioe_problem(b)
    assert ev.inherited.estimated == 1
    again = ev.inherited(b).state_dict()
    fresh = inherit(ev.supernet, b, ev.data, tiny_cfg.evaluation, "cpu", tiny_cfg.seed)
    assert again.keys() == fresh.state_dict().keys()
    assert all(torch.equal(again[k], v) for k, v in fresh.state_dict().items())
    assert ev.inherited.estimated == 1
