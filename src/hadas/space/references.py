"""Named reference backbones: `min`, `max` for any space; AttentiveNAS a0..a6 (CIFAR-100 space).

a0..a6 are the published AttentiveNAS configurations (facts from the paper's configs, as
listed in HADAS.md section 4); they are valid in the HADAS CIFAR-100 supernet.
"""
from __future__ import annotations

from pathlib import Path

from hadas.errors import ConfigError
from hadas.files import read_json
from hadas.space.backbone import Backbone
from hadas.space.backbone_space import BackboneSpace

_W = {
    "a0": (192, [16, 16, 24, 32, 64, 112, 192, 216, 1792], [3, 3, 3, 3, 3, 3, 3], [1, 4, 4, 4, 4, 6, 6], [1, 3, 3, 3, 3, 3, 1]),
    "a1": (224, [16, 16, 24, 32, 64, 112, 192, 216, 1984], [3, 3, 3, 5, 3, 5, 3], [1, 4, 4, 4, 4, 6, 6], [1, 3, 3, 3, 3, 3, 1]),
    "a2": (224, [16, 16, 24, 32, 64, 112, 200, 224, 1984], [3, 3, 3, 3, 3, 5, 3], [1, 4, 5, 4, 4, 6, 6], [1, 3, 3, 3, 3, 4, 1]),
    "a3": (224, [16, 16, 24, 32, 64, 112, 208, 224, 1984], [3, 3, 3, 5, 3, 3, 3], [1, 4, 4, 4, 4, 6, 6], [2, 3, 3, 4, 3, 5, 1]),
    "a4": (256, [16, 16, 24, 32, 64, 112, 192, 216, 1984], [3, 3, 3, 5, 3, 5, 3], [1, 4, 4, 5, 4, 6, 6], [1, 3, 3, 4, 3, 5, 1]),
    "a5": (256, [16, 16, 24, 32, 72, 112, 192, 216, 1792], [3, 3, 3, 5, 3, 3, 3], [1, 4, 5, 4, 4, 6, 6], [1, 3, 3, 3, 4, 6, 1]),
    "a6": (288, [16, 16, 24, 32, 64, 112, 216, 224, 1984], [3, 3, 3, 3, 3, 5, 3], [1, 4, 6, 5, 4, 6, 6], [1, 3, 3, 4, 4, 6, 1]),
}
ATTENTIVENAS = {name: Backbone(res, tuple(w), tuple(d), tuple(k), tuple(e))
                for name, (res, w, k, e, d) in _W.items()}
REFERENCE_NAMES = ("min", "max", *ATTENTIVENAS)


def reference_backbone(space: BackboneSpace, name: str) -> Backbone:
    """`min`, `max` or `a0`..`a6` in this space (a0..a6 only where they are valid)."""
    if name == "min":
        return space.smallest()
    if name == "max":
        return space.largest()
    if name in ATTENTIVENAS:
        try:
            return space.validate(ATTENTIVENAS[name])
        except ConfigError as exc:
            raise ConfigError("arch", f"{name} is not in this supernet's space ({exc})") from None
    raise ConfigError("arch", f"unknown reference backbone {name!r}", REFERENCE_NAMES)


def resolve_arch(space: BackboneSpace, text: str) -> Backbone:
    """An arch given on the command line: a reference name, inline JSON, or a path to a JSON file."""
    text = text.strip()
    if text.startswith("{"):
        return space.validate(Backbone.from_json(text))
    if text in REFERENCE_NAMES:
        return reference_backbone(space, text)
    path = Path(text)
    if path.suffix == ".json" and path.is_file():
        return space.validate(Backbone.from_dict(read_json(path, "arch")))
    raise ConfigError("arch", f"{text!r} is neither a reference name, inline JSON nor a .json file",
                      REFERENCE_NAMES)
