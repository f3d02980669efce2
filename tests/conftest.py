"""Shared fixtures: the shipped configs and their supernets."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hadas.config import HadasConfig, load_config
from hadas.errors import ConfigError

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Two workers on two cores: one OpenMP thread each (inherited by the searches the tests
    # start). Spinning threads of one worker slowed the other's supernet training tenfold.
    os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
FIXTURES = Path(__file__).resolve().parent / "fixtures"  # facts copied from shared/reference
# the start of a `python -c` script in which torch cannot be imported
WITHOUT_TORCH = """
import importlib.abc, sys
class HideTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision"):
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by the test)")
sys.meta_path.insert(0, HideTorch())
try:
    import torch
    sys.exit("torch is still importable")
except ModuleNotFoundError:
    pass
"""


@pytest.fixture(scope="session")
def tiny_cfg() -> HadasConfig:
    return load_config(CONFIGS / "tiny-digits.yaml")


@pytest.fixture(scope="session")
def cifar100_cfg() -> HadasConfig:
    return load_config(CONFIGS / "hadas-cifar100.yaml")


@contextmanager
def raises_config_error(field: str, *snippets: str) -> Iterator[None]:
    """Expect one ConfigError naming `field` first, on one line, and holding every snippet."""
    with pytest.raises(ConfigError) as info:
        yield
    message = str(info.value)
    assert info.value.field == field, message
    assert message.startswith(f"{field}: ") and "\n" not in message, message
    assert all(s in message for s in snippets), message


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Two cores shared with other jobs: OpenMP threads spinning against them cost seconds."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def render_page():  # -> tests/browser.py's render
    """render(html_path, selectors=..., screenshot=...) in headless Chromium (tests/browser.py).

    Skips the test, saying what to install, when playwright or /usr/bin/chromium is missing.
    """
    from browser import browser_or_skip, render

    browser_or_skip()
    return render


def small_config(path: Path, train: dict | None = None, exits: dict | None = None,
                 search: dict | None = None, ooe: dict | None = None,
                 ioe: dict | None = None) -> Path:
    """tiny-digits.yaml with these sections updated, written to `path`."""
    import yaml

    data = yaml.safe_load((CONFIGS / "tiny-digits.yaml").read_text())
    for section, values in (("train", train), ("exits", exits), ("search", search)):
        data[section].update(values or {})
    data["search"]["ooe"].update(ooe or {})
    data["search"]["ioe"].update(ioe or {})
    path.write_text(yaml.safe_dump(data))
    return path


def measured_search_setup(tmp_path: Path, search: dict, ooe: dict, ioe: dict
                          ) -> tuple[Path, Path]:
    """A shrunk tiny-digits config (2 exit epochs; `search`, `ooe`, `ioe` updated) and an
    untrained supernet checkpoint for it: measured costs do not depend on the weights."""
    import torch

    from hadas.model import create_supernet
    from hadas.model.checkpoint import save_atomic

    config = small_config(tmp_path / "search.yaml", exits=dict(epochs=2, warmup_epochs=1),
                          search=dict(platform="local", measure_repeats=2, **search),
                          ooe=ooe, ioe=ioe)
    torch.manual_seed(0)
    checkpoint = tmp_path / "supernet" / "supernet.pt"
    save_atomic({"format": "hadas-supernet/1",
                 "state_dict": create_supernet(load_config(config)).state_dict()}, checkpoint)
    return config, checkpoint

