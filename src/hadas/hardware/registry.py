"""The platform registry: every YAML in `hardware/platforms/` plus `local`, found by scanning."""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from hadas.errors import ConfigError
from hadas.hardware.local import local_platform
from hadas.hardware.platform import Platform, load_platform_file

DEFAULT_PLATFORM = "agx-xavier-calibrated"  # the HADAS board, fitted to measurements (README)


def _files() -> dict[str, Path]:
    folder = resources.files("hadas.hardware").joinpath("platforms")
    return {Path(str(f)).stem: Path(str(f)) for f in folder.iterdir() if f.name.endswith(".yaml")}


def list_platforms() -> list[str]:
    """Names of the registered platforms (shipped files, then `local`)."""
    return [*sorted(_files()), "local"]


@lru_cache(maxsize=None)
def get_platform(name: str = DEFAULT_PLATFORM) -> Platform:
    """A registered platform by name; ConfigError lists the names for an unknown one."""
    if name == "local":
        return local_platform()
    files = _files()
    if name not in files:
        raise ConfigError("platform", f"unknown platform {name!r}", list_platforms())
    platform = load_platform_file(files[name])
    if platform.name != name:
        raise ConfigError("platform.name", f"{files[name]} names itself {platform.name!r}", [name])
    return platform


def resolve_platform(text: str) -> Platform:
    """A platform given on the command line: a registered name or a (calibrated) YAML path."""
    if text.endswith((".yaml", ".yml")) or "/" in text:
        return load_platform_file(text)
    return get_platform(text)
