"""hadas.config: the shipped YAML configs load, round-trip, and bad values name their field."""
from __future__ import annotations

import copy
import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hadas.config import DATASETS, HadasConfig, config_from_dict, load_config
from hadas.errors import ConfigError, HadasError
from hadas.space import REFERENCE_NAMES, BackboneSpace, SupernetSpec, resolve_arch
from hadas.space.supernet_spec import ACTIVATIONS

from conftest import raises_config_error

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
CIFAR100 = CONFIGS / "hadas-cifar100.yaml"
SHIPPED = {"tiny-digits": ("digits", 10), "hadas-cifar100": ("cifar100", 100),
           "hadas-cifar10": ("cifar10", 10), "hadas-tinyimagenet": ("tinyimagenet", 200)}

Edit = Callable[[dict[str, Any]], None]


def cifar100_dict() -> dict[str, Any]:
    """The shipped CIFAR-100 config as plain YAML data (a fresh copy)."""
    return yaml.safe_load(CIFAR100.read_text())


def setting(path: str, value: Any) -> Edit:
    """An edit that sets the dotted `path` (creating nothing but the last key)."""
    *parents, last = path.split(".")

    def edit(data: dict[str, Any]) -> None:
        for key in parents:
            data = data[key]
        data[last] = value
    return edit


def removing(path: str) -> Edit:
    *parents, last = path.split(".")

    def edit(data: dict[str, Any]) -> None:
        for key in parents:
            data = data[key]
        del data[last]
    return edit


def edited(*edits: Edit) -> dict[str, Any]:
    data = cifar100_dict()
    for edit in edits:
        edit(data)
    return data


# --- the shipped configs -------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_config_loads_with_its_dataset_and_class_count(name: str) -> None:
    cfg = load_config(CONFIGS / f"{name}.yaml")
    dataset, n_classes = SHIPPED[name]
    assert cfg.name == name
    assert cfg.data.dataset == dataset
    assert cfg.data.classes == n_classes == cfg.supernet.n_classes
    assert cfg.source == str(CONFIGS / f"{name}.yaml")


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_supernet_config_round_trips(name: str) -> None:
    spec = load_config(CONFIGS / f"{name}.yaml").supernet
    assert SupernetSpec.from_config(spec.to_config(), n_classes=spec.n_classes) == spec


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_whole_config_round_trips_through_to_dict(name: str) -> None:
    cfg = load_config(CONFIGS / f"{name}.yaml")
    again = config_from_dict(copy.deepcopy(cfg.to_dict()))
    assert again == dataclasses.replace(cfg, source=None)
    assert again.fingerprint == cfg.fingerprint


def test_supernet_config_equals_the_yaml_block_as_written() -> None:
    original = cifar100_dict()["supernet_config"]
    assert load_config(CIFAR100).supernet.to_config() == original


def test_original_attentivenas_supernet_block_is_accepted_as_is(tmp_path: Path) -> None:
    """The original `supernet_config` block verbatim: quoted 'swish', `se: False` and all."""
    text = CIFAR100.read_text()
    block = text[text.index("supernet_config:"):]
    assert "act_func: 'swish'" in block and "se: False" in block and "use_v3_head: True" in block
    path = tmp_path / "attentivenas.yaml"
    path.write_text("data:\n  dataset: cifar100\n" + block)
    cfg = load_config(path)
    spec = cfg.supernet
    assert cfg.name == "attentivenas"  # defaults to the file name
    assert spec.use_v3_head is True
    assert {st.act_func for st in spec.stages} == {"swish"}
    assert [st.name for st in spec.stages if st.se] == ["mb3", "mb5", "mb6", "mb7"]
    assert spec == load_config(CIFAR100).supernet


def test_fingerprint_is_stable_and_ignores_the_file_location(tmp_path: Path) -> None:
    copied = tmp_path / "elsewhere.yaml"
    shutil.copy(CIFAR100, copied)
    fingerprint = load_config(CIFAR100).fingerprint
    assert len(fingerprint) == 16 and int(fingerprint, 16) >= 0
    assert load_config(CIFAR100).fingerprint == fingerprint
    assert load_config(copied).fingerprint == fingerprint


@pytest.mark.parametrize("edit", [
    setting("train.epochs", 361),
    setting("seed", 1),
    setting("search.ooe.mutation_prob", 0.2),
    setting("supernet_config.mb5.c", [112, 120]),
    setting("supernet_config.resolutions", [192, 224]),
], ids=["train.epochs", "seed", "search", "supernet widths", "resolutions"])
def test_fingerprint_changes_when_a_value_changes(edit: Edit) -> None:
    assert config_from_dict(edited(edit)).fingerprint != load_config(CIFAR100).fingerprint


def test_config_errors_are_value_errors_a_user_can_act_on() -> None:
    assert issubclass(ConfigError, ValueError) and issubclass(ConfigError, HadasError)


# --- invalid configs -----------------------------------------------------------------------------

INVALID = [
    pytest.param(setting("extras", {}), "extras", ["unknown section", "supernet_config", "train"],
                 id="unknown-section"),
    pytest.param(setting("train.epoch", 3), "train.epoch", ["unknown key", "epochs"],
                 id="unknown-key"),
    pytest.param(setting("train.epochs", "ten"), "train.epochs", ["integer", "'ten'"],
                 id="string-for-int"),
    pytest.param(setting("train.epochs", True), "train.epochs", ["integer"], id="bool-for-int"),
    pytest.param(setting("train.batch_size", 0), "train.batch_size", [">= 1", "0"],
                 id="batch-size-0"),
    pytest.param(setting("search.ooe.mutation_prob", 1.5), "search.ooe.mutation_prob",
                 ["<= 1.0", "1.5"], id="probability-above-1"),
    pytest.param(setting("supernet_config.mb2.d", [-3, 4, 5]), "supernet_config.mb2.d",
                 ["1..32", "-3"], id="negative-depth"),
    pytest.param(setting("data.dataset", "mnist"), "data.dataset", ["'mnist'", *DATASETS],
                 id="unknown-dataset"),
    pytest.param(setting("supernet_config.mb8", {"c": [8]}), "supernet_config.mb8",
                 ["unknown key", "mb7", "first_conv", "last_conv"], id="unknown-stage"),
    pytest.param(setting("supernet_config.mb3.depth", [3]), "supernet_config.mb3.depth",
                 ["unknown key", "c, d, k, s, se, t"], id="unknown-key-in-stage"),
    pytest.param(setting("supernet_config.last_conv.d", [1]), "supernet_config.last_conv.d",
                 ["unknown key", "act_func, c)"], id="depth-on-last-conv"),
    pytest.param(removing("supernet_config.mb4"), "supernet_config.mb4",
                 ["missing", "mb4"], id="missing-stage"),
    pytest.param(setting("supernet_config.mb3.k", [3, 4]), "supernet_config.mb3.k",
                 ["odd", "4"], id="even-kernel"),
    pytest.param(setting("supernet_config.mb5.act_func", "gelu"), "supernet_config.mb5.act_func",
                 ["'gelu'", *ACTIVATIONS], id="unknown-activation"),
    pytest.param(setting("supernet_config.mb6.t", [4, 6]), "supernet_config.mb6.t",
                 ["exactly one", "[4, 6]"], id="mb6-two-expand-ratios"),
    pytest.param(setting("supernet_config.mb2.s", 3), "supernet_config.mb2.s",
                 ["3", "1, 2"], id="stride-3"),
    pytest.param(setting("supernet_config.mb1.se", "no"), "supernet_config.mb1.se",
                 ["'no'", "True, False"], id="se-not-bool"),
    pytest.param(setting("supernet_config.use_v3_head", False), "supernet_config.use_v3_head",
                 ["False", "True"], id="no-v3-head"),
    pytest.param(removing("supernet_config"), "supernet_config", ["missing"],
                 id="missing-supernet-config"),
    pytest.param(setting("data.dataset", "imagefolder"), "data.n_classes", ["imagefolder"],
                 id="imagefolder-without-n-classes"),
    pytest.param(setting("data.n_classes", 1), "data.n_classes", [">= 2"], id="one-class"),
]


@pytest.mark.parametrize("edit, field, snippets", INVALID)
def test_invalid_config_names_the_field_and_what_is_allowed(edit: Edit, field: str,
                                                            snippets: list[str]) -> None:
    with raises_config_error(field, *snippets):
        config_from_dict(edited(edit))


def test_imagefolder_with_n_classes_is_accepted() -> None:
    cfg = config_from_dict(edited(setting("data.dataset", "imagefolder"),
                                  setting("data.n_classes", 37)))
    assert cfg.data.classes == cfg.supernet.n_classes == 37


def test_config_that_is_not_a_mapping_is_rejected() -> None:
    with raises_config_error("config", "supernet_config"):
        config_from_dict(["supernet_config"])


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with raises_config_error("config", "not found", str(path)):
        load_config(path)


def test_invalid_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: broken\ntrain:\n  epochs: [1, 2\n")
    with raises_config_error("config", str(path), "not valid YAML", "line"):
        load_config(path)


def test_arch_width_not_in_the_candidate_list_names_the_stage() -> None:
    space = BackboneSpace(load_config(CIFAR100).supernet)
    arch = ('{"resolution": 224, "width": [16, 16, 24, 48, 64, 112, 192, 216, 1792], '
            '"depth": [1, 3, 3, 3, 3, 3, 1], "kernel_size": [3, 3, 3, 3, 3, 3, 3], '
            '"expand_ratio": [1, 4, 4, 4, 4, 6, 6]}')
    with raises_config_error("arch.width.mb3", "48", "(allowed: 32, 40)"):
        resolve_arch(space, arch)


def test_unknown_reference_name_lists_the_allowed_names() -> None:
    space = BackboneSpace(load_config(CIFAR100).supernet)
    with raises_config_error("arch", "'a9'", *REFERENCE_NAMES):
        resolve_arch(space, "a9")


def test_loaded_config_is_immutable() -> None:
    cfg: HadasConfig = load_config(CIFAR100)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.epochs = 1  # type: ignore[misc]


@pytest.mark.parametrize("value", [0, False, [], ""], ids=repr)
def test_a_section_that_is_not_a_mapping_is_rejected(value: Any) -> None:
    with raises_config_error("train", "mapping"):
        config_from_dict(edited(setting("train", value)))


def test_an_empty_section_means_the_defaults() -> None:
    cfg = config_from_dict(edited(setting("train", None)))
    assert cfg.train == type(cfg.train)()


def test_n_classes_must_match_a_fixed_dataset() -> None:
    with raises_config_error("data.n_classes", "100"):
        config_from_dict(edited(setting("data.n_classes", 10)))


def test_last_conv_takes_no_stride() -> None:
    with raises_config_error("supernet_config.last_conv.s", "unknown key"):
        config_from_dict(edited(setting("supernet_config.last_conv.s", 2)))
