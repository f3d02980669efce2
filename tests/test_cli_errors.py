"""The `hadas` console script, run as a user runs it: results on stdout, user errors as one line.

User errors exit with status 2 and print exactly one line, `hadas: error: <field>: <problem>`,
on stderr, never a traceback.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hadas.cli.main import main
from hadas.space import ATTENTIVENAS

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
CIFAR100 = CONFIGS / "hadas-cifar100.yaml"
TINY = CONFIGS / "tiny-digits.yaml"
_SCRIPT = Path(sys.executable).with_name("hadas")
HADAS = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "hadas.cli.main"]


def hadas(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HADAS, *map(str, args)], capture_output=True, text=True, timeout=120,
                          cwd=cwd)


def describe_json(config: Path, arch: str) -> dict[str, Any]:
    result = hadas("describe", "--config", config, "--arch", arch, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_user_error(result: subprocess.CompletedProcess[str], *snippets: str) -> str:
    """Exit status 2, nothing on stdout, one `hadas: error:` line holding the snippets."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hadas: error: "), lines[0]
    assert all(s in lines[0] for s in snippets), lines[0]
    assert result.stdout == ""
    return lines[0]


def write_variant(tmp_path: Path, path: str, value: Any) -> Path:
    """The CIFAR-100 config with one dotted `path` set to `value` (None deletes it)."""
    data = yaml.safe_load(CIFAR100.read_text())
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    if value is None:
        del node[last]
    else:
        node[last] = value
    out = tmp_path / "variant.yaml"
    out.write_text(yaml.safe_dump(data))
    return out


# --- describe ------------------------------------------------------------------------------------

def test_describe_min_prints_the_published_figures_as_json() -> None:
    row = describe_json(CIFAR100, "min")
    assert set(row) == {"mflops", "mparams", "resolution", "n_blocks"}
    assert row["mflops"] == pytest.approx(201.8, abs=0.1)
    assert row["resolution"] == 192
    assert row["n_blocks"] == 17
    assert 1.0 < row["mparams"] < row["mflops"]


def test_describe_max_prints_the_published_figures_as_json() -> None:
    row = describe_json(CIFAR100, "max")
    assert row["mflops"] == pytest.approx(1937.6, abs=0.1)
    assert (row["resolution"], row["n_blocks"]) == (288, 37)
    assert row["mparams"] > describe_json(CIFAR100, "min")["mparams"]


def test_describe_accepts_an_inline_json_arch() -> None:
    assert describe_json(CIFAR100, ATTENTIVENAS["a6"].to_json()) == describe_json(CIFAR100, "a6")


def test_describe_accepts_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "a2.json"
    path.write_text(ATTENTIVENAS["a2"].to_json())
    assert describe_json(CIFAR100, str(path)) == describe_json(CIFAR100, "a2")


def test_describe_text_output_names_the_figures_and_the_arch() -> None:
    result = hadas("describe", "--config", CIFAR100, "--arch", "a0")
    assert result.returncode == 0, result.stderr
    summary, arch = result.stdout.strip().splitlines()
    assert summary.startswith("a0: 201.78 MFLOPs") and "17 blocks" in summary
    assert json.loads(arch) == ATTENTIVENAS["a0"].to_dict()


# --- user errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path, value, snippets", [
    ("supernet_config.mb8", {"c": [8]}, ["supernet_config.mb8", "unknown key", "mb7"]),
    ("supernet_config.mb2.d", [-3, 4, 5], ["supernet_config.mb2.d", "1..32", "-3"]),
    ("supernet_config.mb4", None, ["supernet_config.mb4", "missing"]),
    ("train.batch_size", 0, ["train.batch_size", ">= 1"]),
    ("data.dataset", "mnist", ["data.dataset", "cifar100", "imagefolder"]),
], ids=["unknown-stage", "negative-depth", "missing-stage", "batch-size-0", "dataset"])
def test_bad_config_value_is_one_line_naming_the_field(tmp_path: Path, path: str, value: Any,
                                                       snippets: list[str]) -> None:
    config = write_variant(tmp_path, path, value)
    assert_user_error(hadas("describe", "--config", config, "--arch", "min"), *snippets)


def test_arch_width_not_in_the_candidates_is_one_line_naming_the_stage() -> None:
    arch = ATTENTIVENAS["a0"].to_dict()
    arch["width"][3] = 48
    result = hadas("describe", "--config", CIFAR100, "--arch", json.dumps(arch))
    assert_user_error(result, "arch.width.mb3", "48", "32, 40")


def test_unknown_arch_name_lists_the_reference_names() -> None:
    result = hadas("describe", "--config", CIFAR100, "--arch", "a9")
    assert_user_error(result, "arch", "min, max, a0")


def test_reference_backbone_outside_the_space_is_one_line() -> None:
    assert_user_error(hadas("describe", "--config", TINY, "--arch", "a6"), "arch", "a6")


def test_missing_config_file_is_one_line_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert_user_error(hadas("describe", "--config", missing, "--arch", "min"), str(missing))


def test_invalid_yaml_is_one_line_naming_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("supernet_config: {mb1: [\n")
    assert_user_error(hadas("describe", "--config", broken, "--arch", "min"),
                      str(broken), "not valid YAML")


def test_evaluate_with_a_missing_checkpoint_is_one_line_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-supernet.pt"
    result = hadas("evaluate", "--config", TINY, "--checkpoint", missing, "--arch", "min",
                   "--device", "cpu", cwd=tmp_path)
    assert_user_error(result, "checkpoint", str(missing))
    assert not (tmp_path / "runs").exists()


def test_the_library_names_parameters_and_the_command_line_names_its_flags(capsys):
    from hadas.api.searching import check_executor
    from hadas.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^workers: must be an integer"):
        check_executor("process", None, -1)  # the library: the parameter's name
    assert main(["search", "--executor", "process", "--workers=-1"]) == 2
    assert capsys.readouterr().err.startswith("hadas: error: --workers: must be an integer")
