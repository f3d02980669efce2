"""Run configuration: YAML files validated on load into frozen dataclasses.

Every section is a dataclass whose fields carry their checks (`choices`, `min`, `max`) in the
field metadata, so one generic loader validates them all and names the faulty field, e.g.
`train.batch_size: must be >= 1, got 0`. The `supernet_config` block is the original
HADAS/AttentiveNAS one, taken as it is (see `hadas.space.supernet_spec`).
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hadas.digest import json_digest
from hadas import fields
from hadas.errors import ConfigError
from hadas.files import read_yaml
from hadas.space.policies import POLICIES
from hadas.space.supernet_spec import MAX_RESOLUTION, MAX_WIDTH, SupernetSpec

DATASETS = ("digits", "cifar10", "cifar100", "tinyimagenet", "imagefolder")
DATASET_CLASSES = {"digits": 10, "cifar10": 10, "cifar100": 100, "tinyimagenet": 200}
# upper bounds that keep a typo from asking for terabytes of memory or years of compute
BIG = 100_000
MAX_BATCH = 65_536
MAX_SEED = 2**32 - 1  # what numpy and torch seed generators take


def _f(default: Any, **checks: Any) -> Any:
    return field(default=default, metadata=checks)


@dataclass(frozen=True)
class DataConfig:
    """Which dataset, where it lives, and how the evaluation split is drawn."""

    dataset: str = _f("digits", choices=DATASETS)
    root: str = "data"
    download: bool = False
    n_classes: int | None = _f(None, min=2, max=BIG)  # defaults to the dataset's class count
    image_size: int | None = _f(None, min=4, max=MAX_RESOLUTION)  # stored image size; the network resizes to its resolution
    val_fraction: float = _f(0.1, min=0.0, max=0.5)   # held out of train (digits, image folders)
    test_fraction: float = _f(0.2, min=0.0, max=0.5)  # digits only: CIFAR/Tiny-ImageNet ship a test split
    eval_split: str = _f("test", choices=("val", "test"))  # HADAS evaluates on the CIFAR test split
    split_seed: int = _f(0, min=0, max=MAX_SEED)
    augment: bool = True  # random crop (padding 1/8 of the size) + horizontal flip, on the device

    @property
    def classes(self) -> int:
        return self.n_classes or DATASET_CLASSES[self.dataset]


@dataclass(frozen=True)
class ModelConfig:
    """Supernet options beyond the architecture."""

    # both on the largest sub-network of each sandwich step only (AttentiveNAS recipe):
    dropout: float = _f(0.2, min=0.0, max=0.9)  # before the classifier
    drop_connect: float = _f(0.2, min=0.0, max=0.9)  # x block/n, identity blocks, last 2 stages
    bn_momentum: float = _f(0.1, min=0.0, max=1.0)
    bn_eps: float = _f(1e-5, min=0.0)


@dataclass(frozen=True)
class TrainConfig:
    """Supernet training with the sandwich rule and in-place distillation (AttentiveNAS recipe)."""

    epochs: int = _f(360, min=1, max=BIG)
    batch_size: int = _f(64, min=1, max=MAX_BATCH)
    base_lr: float = _f(0.1, min=0.0)
    momentum: float = _f(0.9, min=0.0, max=1.0)
    nesterov: bool = True
    weight_decay: float = _f(1e-5, min=0.0)
    warmup_epochs: int = _f(5, min=0, max=BIG)
    warmup_lr: float = _f(1e-4, min=0.0)
    label_smoothing: float = _f(0.1, min=0.0, max=1.0)
    num_random_subnets: int = _f(2, min=0, max=64)  # sandwich: largest + smallest + N random per step
    inplace_distill: bool = True
    grad_clip: float | None = _f(None, min=0.0)
    mixed_precision: bool = True  # used on CUDA only
    pretrained: str | None = None  # a published or own checkpoint to fine-tune from


@dataclass(frozen=True)
class EvalConfig:
    """Backbone evaluation by weight inheritance: BN re-estimation, then top-1."""

    bn_calibration_batches: int = _f(64, min=1, max=BIG)
    bn_calibration_batch_size: int = _f(64, min=1, max=MAX_BATCH)
    batch_size: int = _f(256, min=1, max=MAX_BATCH)


EXIT_TRAINING = ("per-backbone", "shared")  # README "Shared exit heads"
SHARED_SAMPLING = ("uniform", "sandwich")


@dataclass(frozen=True)
class ExitsConfig:
    """Early exits: head shape, candidate positions, training recipe (HADAS defaults), policy."""

    exit_channels: int = _f(224, min=1, max=MAX_WIDTH)       # 3x3 conv width of every exit head (HADAS: 224)
    first_exit_block: int = _f(5, min=0, max=1000)      # candidates: after blocks first_exit_block..N_b-1
    confidence_head: bool = False             # also train a learned-confidence branch
    epochs: int = _f(30, min=1, max=BIG)
    batch_size: int = _f(64, min=1, max=MAX_BATCH)
    base_lr: float = _f(0.01, min=0.0)
    warmup_epochs: int = _f(5, min=0, max=BIG)
    warmup_lr_factor: float = _f(0.001, min=0.0, max=1.0)  # warm-up starts at base_lr x this
    momentum: float = _f(0.9, min=0.0, max=1.0)
    nesterov: bool = True
    weight_decay: float = _f(1e-5, min=0.0)   # on conv/linear weights only
    grad_clip: float | None = _f(1.0, min=0.0)
    distill_temperature: float = _f(1.0, min=0.01)
    policy: str = _f("max_softmax", choices=POLICIES.names())
    threshold: float = _f(0.8, min=0.0)
    # per-backbone: each backbone trains its own heads (HADAS); shared: one bank of heads for
    # the whole supernet, trained once, inherited by every backbone (BN re-estimated)
    training: str = _f("per-backbone", choices=EXIT_TRAINING)
    # shared: per step one uniformly drawn sub-network, or the sandwich (largest, smallest and
    # train.num_random_subnets random ones)
    shared_sampling: str = _f("uniform", choices=SHARED_SAMPLING)
    finetune_epochs: int = _f(0, min=0, max=BIG)  # shared: per-backbone fine-tune of inherited heads

    def recipe(self) -> dict[str, Any]:
        """What trained heads depend on: every field but the inference-time policy and
        threshold, and the shared-only fields when training is per-backbone (so adding them
        kept the keys of per-backbone banks)."""
        shared_only = ("training", "shared_sampling", "finetune_epochs")
        return {k: v for k, v in dataclasses.asdict(self).items()
                if k not in ("policy", "threshold")
                and (self.training == "shared" or k not in shared_only)}


@dataclass(frozen=True)
class EngineConfig:
    """One evolutionary engine (OOE or IOE) with the original HADAS hyper-parameters as defaults."""

    population: int = _f(64, min=2, max=BIG)
    generations: int = _f(7, min=1, max=BIG)
    survival_ratio: float = _f(0.15, min=0.0, max=1.0)
    n_crossover: int = _f(32, min=0, max=BIG)
    n_mutation: int = _f(32, min=0, max=BIG)
    mutation_prob: float = _f(0.3, min=0.0, max=1.0)
    crossover_prob: float = _f(0.8, min=0.0, max=1.0)

    def survivors(self, share: float = 1.0) -> int:
        """How many a survival keeps: ceil(population x survival_ratio x share), at least 1."""
        return max(1, math.ceil(self.population * self.survival_ratio * share))


IOE_DVFS = ("exact", "evolve")
HARDWARE = ("model", "measured", "remote")  # what costs the DyNNs: README "Measured costs"


@dataclass(frozen=True)
class IoeConfig(EngineConfig):
    """The inner engine: an evolutionary budget over exit plans, and how clocks are chosen.

    `exact` (default): every exit plan the engine scores is costed over the whole DVFS grid and
    keeps its non-dominated (latency, energy) clock points, at most `max_clock_points` of them
    (crowding keeps the extremes); the genome holds exits and threshold only, and when a
    backbone has at most `enumerate_max` exit plans they are all scored, no evolution.
    `evolve`: HADAS's clock genes, one DVFS point per individual (the paper's method)."""

    # ours (bench/ioe_budget.py): 20 x 10 at exact DVFS; HADAS's configs keep the paper's
    # 10 x 5 with `evolve`
    population: int = _f(20, min=2, max=BIG)
    generations: int = _f(10, min=1, max=BIG)
    survival_ratio: float = _f(0.25, min=0.0, max=1.0)
    n_crossover: int = _f(10, min=0, max=BIG)
    n_mutation: int = _f(10, min=0, max=BIG)
    dvfs: str = _f("exact", choices=IOE_DVFS)
    max_clock_points: int = _f(8, min=1, max=BIG)
    enumerate_max: int = _f(256, min=0, max=BIG)


@dataclass(frozen=True)
class ConstraintsConfig:
    """Optional limits a deployable DyNN must meet (null: no limit)."""

    max_latency_ms: float | None = _f(None, min=0.0)
    max_energy_mj: float | None = _f(None, min=0.0)
    min_top1: float | None = _f(None, min=0.0, max=100.0)


@dataclass(frozen=True)
class SearchConfig:
    """The bi-level search: the two engines, the platform, and the inner space."""

    ooe: EngineConfig = EngineConfig()
    ioe: IoeConfig = IoeConfig()
    platform: str = "agx-xavier-calibrated"  # a `hadas platforms list` name or a platform YAML
    # (HADAS: AGX Xavier; the calibrated file by default, README "Hardware models")
    thresholds: tuple[float, ...] = _f((0.5, 0.6, 0.7, 0.8, 0.9), min=0.0)  # exit threshold grid
    min_exits: int = _f(1, min=0, max=1000)
    max_exits: int | None = _f(None, min=0, max=1000)  # default: all candidate positions but one (HADAS)
    constraints: ConstraintsConfig = ConstraintsConfig()
    # model: the platform's model; measured: this machine (CPU/CUDA); remote: a device agent
    hardware: str = _f("model", choices=HARDWARE)
    agent_url: str | None = None          # remote: the agent, e.g. http://board:8765
    agent_token_file: str | None = None   # remote: the file holding its bearer token
    measure_repeats: int = _f(20, min=1, max=10_000)  # measured / remote: timed runs per piece


@dataclass(frozen=True)
class HadasConfig:
    """A whole run configuration."""

    name: str
    supernet: SupernetSpec
    seed: int = _f(0, min=0, max=MAX_SEED)
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    evaluation: EvalConfig = EvalConfig()
    exits: ExitsConfig = ExitsConfig()
    search: SearchConfig = SearchConfig()
    source: str | None = None  # path of the YAML it was read from

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping that `config_from_dict` reads back (the supernet in its original form)."""
        out: dict[str, Any] = {"name": self.name, "seed": self.seed}
        for f in ("data", "model", "train", "evaluation", "exits", "search"):
            out[f] = dataclasses.asdict(getattr(self, f))
        out["supernet_config"] = self.supernet.to_config()
        return out

    @property
    def fingerprint(self) -> str:
        """Content key of the whole config."""
        return json_digest(self.to_dict())

    @property
    def supernet_fingerprint(self) -> str:
        """Content key of what the trained supernet depends on (not exits, search, evaluation)."""
        d = self.to_dict()
        return json_digest({k: d[k] for k in ("seed", "data", "model", "train", "supernet_config")})


_SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig,
             "evaluation": EvalConfig, "exits": ExitsConfig, "search": SearchConfig}
_TOP_KEYS = ("name", "seed", "supernet_config", *_SECTIONS)


def load_config(path: str | Path) -> HadasConfig:
    """Read and validate a YAML config; ConfigError names the field on any invalid value."""
    return config_from_dict(read_yaml(path, "config"), source=str(path))


def config_from_dict(data: Any, source: str | None = None) -> HadasConfig:
    if not isinstance(data, Mapping):
        raise ConfigError("config", "must be a mapping of sections", _TOP_KEYS)
    for key in data:
        if key not in _TOP_KEYS:
            raise ConfigError(str(key), "unknown section", _TOP_KEYS)
    if "supernet_config" not in data:
        raise ConfigError("supernet_config", "missing (the HADAS/AttentiveNAS supernet block)")
    sections = {name: _load_dataclass(cls, {} if data.get(name) is None else data[name], name)
                for name, cls in _SECTIONS.items()}
    seed = _check_value(HadasConfig, _field(HadasConfig, "seed"), data.get("seed", 0), "seed")
    name = data.get("name", Path(source).stem if source else "hadas")
    if not isinstance(name, str) or not name:
        raise ConfigError("name", f"must be a non-empty string, got {name!r}")
    data_cfg: DataConfig = sections["data"]
    if data_cfg.dataset == "imagefolder" and data_cfg.n_classes is None:
        raise ConfigError("data.n_classes", "required for dataset imagefolder")
    fixed = DATASET_CLASSES.get(data_cfg.dataset)
    if fixed and data_cfg.n_classes not in (None, fixed):
        raise ConfigError("data.n_classes", f"{data_cfg.dataset} has {fixed} classes, "
                          f"got {data_cfg.n_classes}", [fixed])
    exits: ExitsConfig = sections["exits"]
    if exits.training == "per-backbone" and exits.finetune_epochs:
        raise ConfigError("exits.finetune_epochs", "fine-tunes inherited heads: it needs "
                          "exits.training shared", ["shared"])
    search: SearchConfig = sections["search"]
    if search.hardware == "remote":
        for key in ("agent_url", "agent_token_file"):
            if getattr(search, key) is None:
                raise ConfigError(f"search.{key}", "required for search.hardware remote")
    spec = SupernetSpec.from_config(data["supernet_config"], n_classes=data_cfg.classes)
    return HadasConfig(name=name, supernet=spec, seed=seed, source=source, **sections)


def _field(cls: type, name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(cls) if f.name == name)


def _load_dataclass(cls: type, data: Any, where: str) -> Any:
    data = fields.mapping(data, where, [f.name for f in dataclasses.fields(cls)])
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            values[f.name] = _check_value(cls, f, data[f.name], f"{where}.{f.name}")
    return cls(**values)


def _check_value(owner: type, f: dataclasses.Field, value: Any, where: str) -> Any:
    hint = typing.get_type_hints(owner)[f.name]
    kinds = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None:
        if type(None) in kinds:
            return None
        raise ConfigError(where, "must be set, got null")
    kind = next(k for k in kinds if k is not type(None))
    if typing.get_origin(kind) is tuple:
        if not isinstance(value, (list, tuple)) or not value:
            raise ConfigError(where, f"must be a non-empty list, got {value!r}")
        return tuple(_check_scalar(typing.get_args(kind)[0], f.metadata, v, f"{where}[{i}]")
                     for i, v in enumerate(value))
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return _load_dataclass(kind, value, where)
    return _check_scalar(kind, f.metadata, value, where)


def _check_scalar(kind: type, checks: Mapping[str, Any], value: Any, where: str) -> Any:
    if kind is bool:
        value = fields.boolean(value, where)
    elif kind is int:
        value = fields.integer(value, where)
    elif kind is float:
        value = fields.number(value, where)
    elif kind is str:
        value = fields.text(value, where, empty=True)
    if "choices" in checks and value not in checks["choices"]:
        raise ConfigError(where, f"got {value!r}", checks["choices"])
    if "min" in checks and value < checks["min"]:
        raise ConfigError(where, f"must be >= {checks['min']}, got {value!r}")
    if "max" in checks and value > checks["max"]:
        raise ConfigError(where, f"must be <= {checks['max']}, got {value!r}")
    return value
