"""Loading published AttentiveNAS/HADAS checkpoints and our own, with clear errors."""
from __future__ import annotations

import json

import pytest
import torch

from hadas.errors import CheckpointError
from hadas.model import create_supernet, load_supernet, load_supernet_state, save_atomic
from hadas.model.checkpoint import attentivenas_name

from conftest import FIXTURES


@pytest.fixture(scope="module")
def reference_shapes() -> dict[str, list[int]]:
    return json.loads((FIXTURES / "attentivenas_cifar100_state_dict.json").read_text())["tensors"]


def _synthetic(shapes: dict[str, list[int]], prefix: str = "module.") -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {prefix + k: (torch.randn(v, generator=g) if v else torch.tensor(7)) for k, v in
            shapes.items()}


def test_reference_lists_1468_tensors(reference_shapes):
    assert len(reference_shapes) == 1468


def test_synthetic_published_checkpoint_loads_with_every_tensor_used(cifar100_cfg, reference_shapes):
    net = create_supernet(cifar100_cfg)
    state = _synthetic(reference_shapes)
    assert load_supernet_state(net, {"state_dict": state}) == []
    ours = net.state_dict()
    used = {attentivenas_name(k) for k in ours}
    # every tensor of the file is used, except the per-resolution BN statistics (documented)
    assert {k.removeprefix("module.") for k in state} - used == {
        k for k in reference_shapes if ".bn_tracking." in k}
    for k, v in ours.items():
        assert torch.equal(v, state["module." + attentivenas_name(k)]), k


def test_checkpoint_without_module_prefix_loads_too(cifar100_cfg, reference_shapes):
    """The same tensors without DataParallel's `module.` prefix load into the same weights."""
    prefixed, bare = create_supernet(cifar100_cfg), create_supernet(cifar100_cfg)
    assert load_supernet_state(prefixed, _synthetic(reference_shapes)) == []
    assert load_supernet_state(bare, _synthetic(reference_shapes, prefix="")) == []
    a, b = prefixed.state_dict(), bare.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    fresh = create_supernet(cifar100_cfg).state_dict()
    assert not torch.equal(fresh["stem.conv.weight"], b["stem.conv.weight"])  # really loaded


def test_a_missing_tensor_is_named(cifar100_cfg, reference_shapes):
    state = _synthetic(reference_shapes)
    missing = "blocks.20.mobile_inverted_conv.depth_conv.se.fc.reduce.weight"
    del state["module." + missing]
    with pytest.raises(CheckpointError, match=missing.replace(".", r"\.")):
        load_supernet_state(create_supernet(cifar100_cfg), {"state_dict": state})


def test_a_misshaped_tensor_is_named_with_both_shapes(cifar100_cfg, reference_shapes):
    state = _synthetic(reference_shapes)
    state["module.classifier.linear.linear.weight"] = torch.zeros(10, 1984)
    with pytest.raises(CheckpointError, match=r"classifier\.linear\.linear\.weight.*\[10, 1984\]"):
        load_supernet_state(create_supernet(cifar100_cfg), {"state_dict": state})


def test_an_unused_tensor_is_an_error(cifar100_cfg, reference_shapes):
    state = _synthetic(reference_shapes)
    state["module.blocks.99.shortcut.conv.conv.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=r"blocks\.99"):
        load_supernet_state(create_supernet(cifar100_cfg), {"state_dict": state})


def test_new_classifier_for_fine_tuning_on_another_dataset(cifar100_cfg, reference_shapes):
    """HADAS fine-tuned an ImageNet supernet on CIFAR-100 with a fresh classifier."""
    state = _synthetic(reference_shapes)
    state["module.classifier.linear.linear.weight"] = torch.zeros(1000, 1984)
    state["module.classifier.linear.linear.bias"] = torch.zeros(1000)
    net = create_supernet(cifar100_cfg)
    skipped = load_supernet_state(net, {"state_dict": state}, new_classifier=True)
    assert skipped == ["classifier.weight", "classifier.bias"]
    assert torch.equal(net.stem.conv.weight, state["module.first_conv.conv.conv.weight"])


def test_own_checkpoint_round_trip(tiny_cfg, tmp_path):
    torch.manual_seed(3)
    net = create_supernet(tiny_cfg)
    path = tmp_path / "deep" / "supernet.pt"
    save_atomic({"format": "hadas-supernet/1", "state_dict": net.state_dict()}, path)
    assert [p.name for p in path.parent.iterdir()] == ["supernet.pt"]  # no temporary left
    loaded = load_supernet(tiny_cfg, path)
    for k, v in net.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])


def test_unreadable_and_absent_files_are_clear_errors(tiny_cfg, tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_supernet(tiny_cfg, tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_supernet(tiny_cfg, bad)
