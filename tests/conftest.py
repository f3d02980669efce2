"""Shared fixtures: the shipped configs and their supernets."""
from __future__ import annotations

from pathlib import Path

import pytest

from hadas.config import HadasConfig, load_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
FIXTURES = Path(__file__).resolve().parent / "fixtures"  # facts copied from shared/reference


@pytest.fixture(scope="session")
def tiny_cfg() -> HadasConfig:
    return load_config(CONFIGS / "tiny-digits.yaml")


@pytest.fixture(scope="session")
def cifar100_cfg() -> HadasConfig:
    return load_config(CONFIGS / "hadas-cifar100.yaml")
