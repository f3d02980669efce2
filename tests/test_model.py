"""The supernet: weight sharing, extraction, and agreement with the pure-Python skeleton."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from hadas.model import Supernet, create_supernet
from hadas.model.flops import count_macs
from hadas.space import BackboneSpace, reference_backbone


def _randomise_bn(net: nn.Module, seed: int = 0) -> None:
    """Non-trivial BN statistics and affine parameters, so that eval outputs are informative."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, buf in net.named_buffers():
            if name.endswith("running_mean"):
                buf.copy_(torch.randn(buf.shape, generator=g) * 0.1)
            elif name.endswith("running_var"):
                buf.copy_(torch.rand(buf.shape, generator=g) + 0.5)
        for name, p in net.named_parameters():
            if p.dim() == 1:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1 + (1.0 if "bn.weight" in name else 0))


@pytest.fixture(scope="module")
def tiny_net(tiny_cfg) -> Supernet:
    torch.manual_seed(0)
    net = create_supernet(tiny_cfg)
    _randomise_bn(net)
    return net.eval()


def _archs(net: Supernet, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [net.space.smallest(), net.space.largest()] + [net.space.sample(rng) for _ in range(n)]


def test_activated_supernet_and_extracted_subnetwork_agree_in_eval_mode(tiny_net):
    x = torch.randn(4, 3, 8, 8)
    for arch in _archs(tiny_net, 8):
        tiny_net.activate(arch)
        with torch.no_grad():
            expected = tiny_net(x)
            got = tiny_net.extract().eval()(x)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_extraction_does_not_touch_the_supernet_and_copies_weights(tiny_net):
    before = {k: v.clone() for k, v in tiny_net.state_dict().items()}
    sub = tiny_net.extract(tiny_net.space.smallest())
    with torch.no_grad():
        for p in sub.parameters():
            p.add_(1.0)
    for k, v in tiny_net.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_smaller_kernel_uses_the_centre_crop_and_fewer_channels_the_leading_slice(tiny_net):
    space = tiny_net.space
    arch = space.decode(space.encode(space.largest()) * 0)  # the smallest: kernel 3, narrowest
    sub = tiny_net.extract(arch)
    block = sub.skeleton.blocks[2]  # first block of mb2 (has an expand layer)
    big = tiny_net.blocks[block.supernet_index]
    dw_big = big.depthwise.conv.weight
    k = block.kernel
    off = (dw_big.shape[-1] - k) // 2
    assert torch.equal(sub.blocks[2].depthwise.conv.weight,
                       dw_big[: block.mid_channels, :, off:off + k, off:off + k])
    assert torch.equal(sub.blocks[2].expand.conv.weight,
                       big.expand.conv.weight[: block.mid_channels, : block.in_channels])
    assert torch.equal(sub.blocks[2].project.bn.running_var,
                       big.project.bn.running_var[: block.out_channels])


@pytest.mark.parametrize("config", ["tiny_cfg", "cifar100_cfg"])
def test_skeleton_agrees_with_the_real_modules(config, request):
    cfg = request.getfixturevalue(config)
    net = create_supernet(cfg)
    names = ["min", "max"] + (["a0", "a6"] if config == "cifar100_cfg" else [])
    rng = np.random.default_rng(1)
    archs = [reference_backbone(net.space, n) for n in names] + [net.space.sample(rng)]
    for arch in archs:
        sub = net.extract(arch)
        sk = sub.skeleton
        # same FLOPs (hooks on real convs/linears) and parameters
        assert count_macs(sub, (3, arch.resolution, arch.resolution)) == sk.macs
        assert sum(p.numel() for p in sub.parameters()) == sk.params
        # every skeleton layer is a real layer with that shape
        modules = dict(sub.named_modules())
        for layer in sk.layers:
            m = modules.get(layer.name + ".conv", modules.get(layer.name))
            if isinstance(m, nn.Conv2d):
                assert (m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0], m.groups) == \
                    (layer.in_channels, layer.out_channels, layer.kernel, layer.stride, layer.groups)
            else:
                assert (m.in_features, m.out_features) == (layer.in_channels, layer.out_channels)
        # block spatial sizes
        sizes = []
        hooks = [b.register_forward_hook(lambda m, i, o: sizes.append((i[0].shape[-1],
                                                                         o.shape[-1])))
                 for b in sub.blocks]
        with torch.no_grad():
            sub.eval()(torch.zeros(1, 3, arch.resolution, arch.resolution))
        for h in hooks:
            h.remove()
        assert sizes == [(b.in_size, b.out_size) for b in sk.blocks]


def test_cifar100_published_mflops_on_real_modules(cifar100_cfg):
    net = create_supernet(cifar100_cfg)
    small = net.extract(net.space.smallest())
    assert count_macs(small, (3, 192, 192)) / 1e6 == pytest.approx(201.8, abs=0.1)


def test_input_of_another_size_is_resized_to_the_active_resolution(tiny_net):
    arch = tiny_net.space.largest()
    tiny_net.activate(arch)
    x = torch.randn(2, 3, 8, 8)
    up = torch.nn.functional.interpolate(x, size=(arch.resolution,) * 2, mode="bicubic",
                                         align_corners=False)
    with torch.no_grad():
        torch.testing.assert_close(tiny_net(x), tiny_net(up))


def test_training_forward_updates_only_the_active_slice_of_shared_bn(tiny_cfg):
    net = create_supernet(tiny_cfg).train()
    net.activate(net.space.smallest())
    stem_bn = net.stem.bn
    c = net.active.stem_channels
    net(torch.randn(8, 3, 8, 8))
    assert not torch.all(stem_bn.running_mean[:c] == 0)
    assert torch.all(stem_bn.running_mean[c:] == 0)


def test_gradients_reach_only_the_active_weights(tiny_cfg):
    net = create_supernet(tiny_cfg).train()
    net.activate(net.space.smallest())
    net(torch.randn(4, 3, 8, 8)).sum().backward()
    sk = net.active
    used = {b.supernet_index for b in sk.blocks}
    for i, block in enumerate(net.blocks):
        grads = [p.grad for p in block.parameters()]
        if i in used:
            assert any(g is not None and g.abs().sum() > 0 for g in grads)
        else:
            assert all(g is None for g in grads)
    w = net.stem.conv.weight.grad
    assert w[sk.stem_channels:].abs().sum() == 0 and w[: sk.stem_channels].abs().sum() > 0


def _with_rates(cfg, dropout: float = 0.5, drop_connect: float = 0.3) -> Supernet:
    torch.manual_seed(0)
    return Supernet(cfg.supernet, dropout=dropout, drop_connect=drop_connect)


def test_drop_connect_only_on_identity_shortcut_blocks_of_the_last_two_stages(tiny_cfg):
    # tiny supernet blocks: mb6 = 11, 12, 13 (11 strided), mb7 = 14, 15; 16 in all
    net, space = _with_rates(tiny_cfg), BackboneSpace(tiny_cfg.supernet)
    largest = space.largest()  # mb6 64 channels, mb7 72: block 14's shortcut is a 1x1 conv
    assert net.drop_connect_rates(space.skeleton(largest)) == pytest.approx(
        {12: 0.3 * 12 / 16, 13: 0.3 * 13 / 16, 15: 0.3 * 15 / 16})
    # mb6 one (strided) block, mb7 as wide as mb6: mb7's first block has the identity now
    same = space.validate(dataclasses.replace(
        largest, depth=largest.depth[:5] + (1, 2), width=largest.width[:7] + (64, 192)))
    assert net.drop_connect_rates(space.skeleton(same)) == pytest.approx(
        {14: 0.3 * 14 / 16, 15: 0.3 * 15 / 16})
    # the smallest: mb6 one strided block, mb7 one block of 56 -> 64 channels: none at all
    assert net.drop_connect_rates(space.skeleton(space.smallest())) == {}
    assert _with_rates(tiny_cfg, drop_connect=0.0).drop_connect_rates() == {}


def test_the_cifar100_rates_count_the_37_supernet_blocks(cifar100_cfg):
    net = Supernet(cifar100_cfg.supernet, drop_connect=0.2)
    sk = net.space.skeleton(net.space.largest())
    rates = net.drop_connect_rates(sk)
    by_index = {b.supernet_index: b for b in sk.blocks}
    assert len(net.blocks) == 37 and rates
    for i, rate in rates.items():
        assert by_index[i].stage in ("mb6", "mb7") and by_index[i].identity_shortcut
        assert rate == pytest.approx(0.2 * i / 37)
    assert {b.supernet_index for b in sk.blocks if b.stage in ("mb6", "mb7")
            and b.in_channels == b.out_channels and b.stride == 1} == set(rates)


def test_dropout_and_drop_connect_only_in_a_regularised_training_pass(tiny_cfg, monkeypatch):
    import hadas.model.supernet as supernet_module

    calls: list[float] = []
    real = supernet_module.drop_connect

    def record(x, rate, training):
        calls.append(rate)
        return real(x, rate, training)

    monkeypatch.setattr(supernet_module, "drop_connect", record)
    net = _with_rates(tiny_cfg).train()
    x = torch.randn(8, 3, 8, 8)
    with torch.no_grad():
        plain = net(x)
        assert all(r == 0.0 for r in calls)
        torch.testing.assert_close(net(x), plain, rtol=0, atol=0)  # nothing random in it
        calls.clear()
        assert not torch.equal(net(x, regularize=True), plain)
        assert sorted(r for r in calls if r > 0) == pytest.approx([0.3 * i / 16 for i in (12, 13, 15)])
        net.eval()
        calls.clear()
        torch.testing.assert_close(net(x, regularize=True), net(x), rtol=0, atol=0)
        assert all(r == 0.0 for r in calls)
    assert net.extract().dropout.p == 0.0  # evaluated and BN re-estimated without dropout
