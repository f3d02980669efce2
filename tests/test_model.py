"""The supernet: weight sharing, extraction, and agreement with the pure-Python skeleton."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hadas.model import Supernet, create_supernet
from hadas.model.flops import count_macs
from hadas.space import reference_backbone


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
