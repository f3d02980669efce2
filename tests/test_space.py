"""hadas.space: the 28-gene HADAS backbone space, its operators, backbones and skeletons.

Facts come from HADAS.md sections 3-5 and SUPERNET.md (CIFAR-100 AttentiveNAS supernet).
"""
from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hadas.config import load_config
from hadas.space import (ATTENTIVENAS, N_GENES, REFERENCE_NAMES, Backbone, BackboneSpace,
                         Skeleton, SupernetSpec, make_divisible, reference_backbone, resolve_arch)
from hadas.space.skeleton import conv_out_size

from conftest import raises_config_error

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SEEDS = st.integers(min_value=0, max_value=2**63 - 1)
SE_STAGES = {"mb3", "mb5", "mb6", "mb7"}

# HADAS.md section 3, in genome order.
CIFAR100_GENES = [
    ("resolution", (192, 224, 256, 288)),
    ("width.first_conv", (16, 24)), ("width.mb1", (16, 24)), ("width.mb2", (24, 32)),
    ("width.mb3", (32, 40)), ("width.mb4", (64, 72)), ("width.mb5", (112, 120, 128)),
    ("width.mb6", (192, 200, 208, 216)), ("width.mb7", (216, 224)),
    ("width.last_conv", (1792, 1984)),
    ("depth.mb1", (1, 2)), ("depth.mb2", (3, 4, 5)), ("depth.mb3", (3, 4, 5, 6)),
    ("depth.mb4", (3, 4, 5, 6)), ("depth.mb5", (3, 4, 5, 6, 7, 8)),
    ("depth.mb6", (3, 4, 5, 6, 7, 8)), ("depth.mb7", (1, 2)),
    *[(f"kernel_size.mb{i}", (3, 5)) for i in range(1, 8)],
    *[(f"expand_ratio.mb{i}", (4, 5, 6)) for i in range(2, 6)],
]


@functools.cache
def space(name: str = "hadas-cifar100") -> BackboneSpace:
    return BackboneSpace(load_config(CONFIGS / f"{name}.yaml").supernet)


def skeleton(backbone: Backbone, name: str = "hadas-cifar100") -> Skeleton:
    return space(name).skeleton(backbone)


def genomes(sp: BackboneSpace) -> st.SearchStrategy[tuple[int, ...]]:
    """Any valid genome of `sp`, gene by gene."""
    return st.tuples(*(st.integers(0, int(n) - 1) for n in sp.n_choices))


def sample_genomes(sp: BackboneSpace, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([sp.sample_genome(rng) for _ in range(n)])


def max_at(resolution: int) -> Backbone:
    """The largest CIFAR-100 backbone at another resolution."""
    b = space().largest()
    return Backbone(resolution, b.width, b.depth, b.kernel_size, b.expand_ratio)


# --- the CIFAR-100 space (HADAS.md section 3) ----------------------------------------------------

def test_genome_has_28_genes_in_the_documented_order_with_the_published_candidates() -> None:
    assert N_GENES == 28
    assert [(g.name, g.choices) for g in space().genes] == CIFAR100_GENES


def test_space_size_is_about_4_40e11_backbones() -> None:
    assert space().size == 1536 * 6912 * 2**7 * 3**4 * 4
    assert space().size == pytest.approx(4.40e11, rel=1e-3)


def test_mb1_mb6_mb7_expand_ratios_are_fixed_and_not_encoded() -> None:
    assert space().smallest().expand_ratio == (1, 4, 4, 4, 4, 6, 6)
    assert space().largest().expand_ratio == (1, 6, 6, 6, 6, 6, 6)


def test_smallest_and_largest_have_17_and_37_blocks() -> None:
    assert space().smallest().n_blocks == 17
    assert space().largest().n_blocks == 37
    assert space().spec.max_blocks == 37


def test_mflops_follow_the_published_convention() -> None:
    assert skeleton(space().smallest()).mflops == pytest.approx(201.8, abs=0.1)
    assert skeleton(space().largest()).mflops == pytest.approx(1937.6, abs=0.1)


def test_stem_cost_is_a_plain_3x3_convolution_count() -> None:
    sk = skeleton(max_at(192))
    stem = sk.layers[0]
    assert (stem.name, stem.out_size) == ("stem", 96)
    assert stem.macs == 3 * 3 * 3 * 24 * 96 * 96


# --- AttentiveNAS a0..a6 (HADAS.md sections 4-5) -------------------------------------------------

@pytest.mark.parametrize("name", sorted(ATTENTIVENAS))
def test_attentivenas_backbones_are_valid_in_the_cifar100_space(name: str) -> None:
    assert reference_backbone(space(), name) == ATTENTIVENAS[name]
    assert len(space().encode(ATTENTIVENAS[name])) == N_GENES


def test_a0_is_the_smallest_backbone() -> None:
    assert ATTENTIVENAS["a0"] == space().smallest()


def test_attentivenas_mflops_grow_from_a0_to_a6() -> None:
    mflops = [skeleton(ATTENTIVENAS[f"a{i}"]).mflops for i in range(7)]
    assert mflops == sorted(mflops)
    assert mflops[6] > 3 * mflops[0]


def test_a0_has_17_blocks_and_a6_has_22() -> None:
    assert skeleton(ATTENTIVENAS["a0"]).n_blocks == 17
    assert skeleton(ATTENTIVENAS["a6"]).n_blocks == 22


def test_a6_matches_the_published_table() -> None:
    a6 = ATTENTIVENAS["a6"]
    assert a6.resolution == 288
    assert a6.width == (16, 16, 24, 32, 64, 112, 216, 224, 1984)
    assert a6.kernel_size == (3, 3, 3, 3, 3, 5, 3)
    assert a6.expand_ratio == (1, 4, 6, 5, 4, 6, 6)
    assert a6.depth == (1, 3, 3, 4, 4, 6, 1)


# --- encoding and operators (properties) ---------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(genome=genomes(space()))
def test_encode_inverts_decode(genome: tuple[int, ...]) -> None:
    assert np.array_equal(space().encode(space().decode(genome)), genome)


@settings(max_examples=30, deadline=None)
@given(genome=genomes(space("tiny-digits")))
def test_encode_inverts_decode_in_the_tiny_space(genome: tuple[int, ...]) -> None:
    sp = space("tiny-digits")
    assert np.array_equal(sp.encode(sp.decode(genome)), genome)


@pytest.mark.parametrize("genome, field", [
    ([0] * 27, "genome"),
    ([0] * 29, "genome"),
    ([0] * 10 + [3] + [0] * 17, "genome.depth.mb1"),
    ([-1] + [0] * 27, "genome.resolution"),
])
def test_decode_rejects_bad_genomes_naming_the_gene(genome: list[int], field: str) -> None:
    with raises_config_error(field):
        space().decode(genome)


@settings(max_examples=40, deadline=None)
@given(seed=SEEDS)
def test_samples_are_valid_backbones(seed: int) -> None:
    backbone = space().sample(np.random.default_rng(seed))
    assert space().validate(backbone) is backbone


def test_sampling_is_uniform_over_every_genes_candidates() -> None:
    samples = sample_genomes(space(), 3000)
    for i, n in enumerate(space().n_choices):
        freq = np.bincount(samples[:, i], minlength=n) / len(samples)
        assert len(freq) == n, space().genes[i].name
        assert np.all(np.abs(freq - 1 / n) < 0.04), (space().genes[i].name, freq)


@settings(max_examples=40, deadline=None)
@given(seed=SEEDS)
def test_mutation_with_probability_0_keeps_the_genome(seed: int) -> None:
    rng = np.random.default_rng(seed)
    genome = space().sample_genome(rng)
    assert np.array_equal(space().mutate(genome, rng, 0.0), genome)


@settings(max_examples=40, deadline=None)
@given(seed=SEEDS)
def test_mutation_with_probability_1_changes_every_gene_within_range(seed: int) -> None:
    rng = np.random.default_rng(seed)
    genome = space().sample_genome(rng)
    before = genome.copy()
    child = space().mutate(genome, rng, 1.0)
    assert np.all(child != genome)
    assert np.all((0 <= child) & (child < space().n_choices))
    assert np.array_equal(genome, before), "mutate must not modify its input"


def test_mutation_leaves_single_candidate_genes_alone() -> None:
    block = space().spec.to_config()
    block["resolutions"] = [224]
    sp = BackboneSpace(SupernetSpec.from_config(block, n_classes=100))
    child = sp.mutate(np.zeros(N_GENES, dtype=np.int64), np.random.default_rng(0), 1.0)
    assert child[0] == 0
    assert np.all(child[1:] != 0)


@pytest.mark.parametrize("prob", [0.1, 0.3, 0.7])
def test_mutation_frequency_matches_its_probability(prob: float) -> None:
    rng = np.random.default_rng(1)
    parents = sample_genomes(space(), 2000, seed=2)
    children = np.stack([space().mutate(g, rng, prob) for g in parents])
    assert np.mean(children != parents) == pytest.approx(prob, abs=0.02)


def test_mutation_picks_uniformly_among_the_other_candidates() -> None:
    gene = [g.name for g in space().genes].index("depth.mb5")  # 6 candidates
    rng = np.random.default_rng(3)
    zeros = np.zeros(N_GENES, dtype=np.int64)
    values = np.array([space().mutate(zeros, rng, 1.0)[gene] for _ in range(3000)])
    freq = np.bincount(values, minlength=6) / len(values)
    assert freq[0] == 0
    assert np.all(np.abs(freq[1:] - 0.2) < 0.04), freq


@settings(max_examples=40, deadline=None)
@given(seed=SEEDS, p=st.floats(0.0, 1.0))
def test_crossover_takes_each_gene_from_one_parent(seed: int, p: float) -> None:
    rng = np.random.default_rng(seed)
    a, b = space().sample_genome(rng), space().sample_genome(rng)
    a0, b0 = a.copy(), b.copy()
    child = space().crossover(a, b, rng, p)
    assert np.all((child == a) | (child == b))
    assert np.array_equal(a, a0) and np.array_equal(b, b0), "crossover must not modify parents"


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS)
def test_crossover_with_p_1_returns_a_and_with_p_0_returns_b(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = space().sample_genome(rng), space().sample_genome(rng)
    assert np.array_equal(space().crossover(a, b, rng, 1.0), a)
    assert np.array_equal(space().crossover(a, b, rng, 0.0), b)


def test_crossover_takes_genes_from_a_with_probability_p() -> None:
    rng = np.random.default_rng(4)
    a, b = np.zeros(N_GENES, dtype=np.int64), np.ones(N_GENES, dtype=np.int64)
    children = np.stack([space().crossover(a, b, rng, 0.8) for _ in range(2000)])
    assert np.mean(children == a) == pytest.approx(0.8, abs=0.02)


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS)
def test_operators_are_deterministic_for_a_seed(seed: int) -> None:
    def run(rng: np.random.Generator) -> list[np.ndarray]:
        a, b = space().sample_genome(rng), space().sample_genome(rng)
        return [a, b, space().mutate(a, rng, 0.3), space().crossover(a, b, rng, 0.8)]

    first, second = run(np.random.default_rng(seed)), run(np.random.default_rng(seed))
    assert all(np.array_equal(x, y) for x, y in zip(first, second, strict=True))


# --- Backbone ------------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(seed=SEEDS)
def test_backbone_round_trips_through_json_and_dict(seed: int) -> None:
    backbone = space().sample(np.random.default_rng(seed))
    assert Backbone.from_json(backbone.to_json()) == backbone
    assert Backbone.from_dict(backbone.to_dict()) == backbone


@settings(max_examples=40, deadline=None)
@given(seed=SEEDS)
def test_backbone_key_is_equal_exactly_for_equal_backbones(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = space().sample(rng), space().sample(rng)
    assert Backbone.from_json(a.to_json()).key == a.key
    assert (a.key == b.key) == (a == b)


def test_backbone_key_is_a_short_hex_string_distinct_per_reference() -> None:
    keys = {name: reference_backbone(space(), name).key for name in REFERENCE_NAMES}
    assert all(len(k) == 16 and int(k, 16) >= 0 for k in keys.values())
    assert len(set(keys.values())) == len(keys) - 1  # a0 is min
    assert keys["a0"] == keys["min"]


def _arch(**changes: object) -> dict[str, object]:
    return {**ATTENTIVENAS["a0"].to_dict(), **changes}


@pytest.mark.parametrize("data, field, snippet", [
    (_arch(width=[16] * 8), "arch.width", "9"),
    (_arch(depth=[1] * 8), "arch.depth", "7"),
    (_arch(colour=3), "arch.colour", "unknown"),
    ({k: v for k, v in _arch().items() if k != "kernel_size"}, "arch.kernel_size", "missing"),
    (_arch(resolution="192"), "arch.resolution", "integer"),
    (_arch(resolution=192.5), "arch.resolution", "integer"),
    (_arch(depth=[1, 3, "3", 3, 3, 3, 1]), "arch.depth", "integer"),
    (_arch(kernel_size=[3, 3, 3, True, 3, 3, 3]), "arch.kernel_size", "integer"),
    (_arch(expand_ratio=4), "arch.expand_ratio", "list"),
    ([192], "arch", "mapping"),
])
def test_backbone_from_dict_names_the_bad_field(data: object, field: str, snippet: str) -> None:
    with raises_config_error(field, snippet):
        Backbone.from_dict(data)  # type: ignore[arg-type]


def test_backbone_from_json_rejects_invalid_json() -> None:
    with raises_config_error("arch", "JSON"):
        Backbone.from_json('{"resolution": 192,')


@pytest.mark.parametrize("changes, field, allowed", [
    ({"width": [16, 16, 24, 48, 64, 112, 192, 216, 1792]}, "arch.width.mb3", "32, 40"),
    ({"resolution": 200}, "arch.resolution", "192, 224, 256, 288"),
    ({"expand_ratio": [1, 4, 4, 4, 4, 4, 6]}, "arch.expand_ratio.mb6", "6"),
    ({"expand_ratio": [2, 4, 4, 4, 4, 6, 6]}, "arch.expand_ratio.mb1", "1"),
    ({"kernel_size": [3, 3, 7, 3, 3, 3, 3]}, "arch.kernel_size.mb3", "3, 5"),
])
def test_validate_names_the_stage_and_lists_the_candidates(changes: dict[str, object], field: str,
                                                          allowed: str) -> None:
    with raises_config_error(field, f"(allowed: {allowed})"):
        space().validate(Backbone.from_dict(_arch(**changes)))


# --- make_divisible ------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    (144, 144),     # already a multiple of 8
    (24 * 4.5, 112),  # 108: halfway rounds up
    (100, 104),
    (44, 48),
    (27, 32),       # 24 would lose more than 10%, so add 8
    (12, 16),
    (3, 8),         # never below the divisor
    (0.5, 8),
])
def test_make_divisible_by_hand(value: float, expected: int) -> None:
    assert make_divisible(value) == expected


@settings(max_examples=200, deadline=None)
@given(value=st.floats(0.5, 5000.0))
def test_make_divisible_is_a_multiple_of_8_at_least_8_and_at_most_10_percent_lower(
        value: float) -> None:
    result = make_divisible(value)
    assert result % 8 == 0
    assert result >= 8
    assert result >= 0.9 * value
    assert result < value + 8


# --- skeleton ------------------------------------------------------------------------------------

def test_max_net_first_block_is_an_expand_1_mb1_block_without_expand_layer() -> None:
    sk = skeleton(max_at(192))
    b = sk.blocks[0]
    assert (b.stage, b.in_channels, b.mid_channels, b.out_channels, b.expand_ratio) == \
        ("mb1", 24, 24, 24, 1)
    names = [layer.name for layer in sk.block_layers(0)]
    assert "blocks.0.expand" not in names
    assert names == ["blocks.0.depthwise", "blocks.0.project"]


def test_max_net_first_mb2_block_has_144_middle_channels_and_stride_2() -> None:
    b = next(b for b in skeleton(max_at(192)).blocks if b.stage == "mb2")
    assert (b.in_channels, b.mid_channels, b.out_channels, b.stride) == (24, 144, 32, 2)


def test_squeeze_excitation_is_present_exactly_in_mb3_mb5_mb6_mb7() -> None:
    sk = skeleton(max_at(192))
    for b in sk.blocks:
        names = {layer.name for layer in sk.block_layers(b.index)}
        has_se_layers = {f"blocks.{b.index}.se.reduce", f"blocks.{b.index}.se.expand"} <= names
        assert b.se == has_se_layers == (b.stage in SE_STAGES), b
        assert b.se_channels == (make_divisible(b.mid_channels // 4) if b.se else 0)


def test_spatial_sizes_at_resolution_192() -> None:
    sk = skeleton(max_at(192))
    assert sk.stem_size == 96
    first = {b.stage: b.out_size for b in reversed(sk.blocks)}
    assert first == {"mb1": 96, "mb2": 48, "mb3": 24, "mb4": 12, "mb5": 12, "mb6": 6, "mb7": 6}
    assert sk.blocks[-1].out_size == 6
    assert sk.head_channels == 6 * 224 and sk.feature_channels == 1984


def test_min_net_blocks_map_onto_the_supernet_block_list() -> None:
    sk = skeleton(space().smallest())
    assert [b.supernet_index for b in sk.blocks[:5]] == [0, 2, 3, 4, 7]  # mb1 holds 2, mb2 holds 5
    assert [b.supernet_index for b in skeleton(space().largest()).blocks] == list(range(37))


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS)
def test_optional_layers_exist_exactly_when_the_block_needs_them(seed: int) -> None:
    sk = skeleton(space().sample(np.random.default_rng(seed)))
    for b in sk.blocks:
        names = {layer.name for layer in sk.block_layers(b.index)}
        assert (f"blocks.{b.index}.shortcut" in names) == (b.in_channels != b.out_channels)
        assert (f"blocks.{b.index}.expand" in names) == (b.expand_ratio != 1)
        assert b.identity_shortcut == (b.in_channels == b.out_channels and b.stride == 1)


def test_tiny_digits_at_resolution_24_has_odd_spatial_sizes() -> None:
    sk = skeleton(space("tiny-digits").smallest(), "tiny-digits")
    assert sk.backbone.resolution == 24
    sizes = [sk.stem_size] + [b.out_size for b in sk.blocks]
    assert sizes == [12, 12, 6, 3, 2, 2, 1, 1]
    assert all(b.out_size == math.ceil(b.in_size / b.stride) for b in sk.blocks)


@pytest.mark.parametrize("size", range(1, 40))
@pytest.mark.parametrize("stride", [1, 2])
def test_conv_out_size_is_ceil_of_size_over_stride(size: int, stride: int) -> None:
    assert conv_out_size(size, stride) == math.ceil(size / stride)


# --- resolve_arch --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_resolve_arch_accepts_reference_names(name: str) -> None:
    assert resolve_arch(space(), name) == reference_backbone(space(), name)


def test_resolve_arch_min_and_max_are_the_extremes() -> None:
    assert resolve_arch(space(), "min") == space().smallest()
    assert resolve_arch(space(), " max ") == space().largest()


def test_resolve_arch_accepts_inline_json() -> None:
    assert resolve_arch(space(), "  " + ATTENTIVENAS["a6"].to_json()) == ATTENTIVENAS["a6"]


def test_resolve_arch_accepts_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "arch.json"
    path.write_text(ATTENTIVENAS["a3"].to_json())
    assert resolve_arch(space(), str(path)) == ATTENTIVENAS["a3"]


@pytest.mark.parametrize("text", ["a7", "biggest", "missing.json"])
def test_resolve_arch_rejects_unknown_names_listing_the_allowed_ones(text: str) -> None:
    with raises_config_error("arch", *REFERENCE_NAMES):
        resolve_arch(space(), text)


def test_resolve_arch_validates_inline_json_against_the_space() -> None:
    with raises_config_error("arch.width.mb3", "32, 40"):
        resolve_arch(space(), Backbone.from_dict(
            _arch(width=[16, 16, 24, 48, 64, 112, 192, 216, 1792])).to_json())


def test_attentivenas_backbones_are_not_in_the_tiny_digits_space() -> None:
    with raises_config_error("arch", "a0"):
        resolve_arch(space("tiny-digits"), "a0")
    assert resolve_arch(space("tiny-digits"), "max") == space("tiny-digits").largest()
