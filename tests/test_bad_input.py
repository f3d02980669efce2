"""Hostile and unlucky input, over every command, config section and file type.

Each case runs `hadas ...` in-process in a workspace folder and must end with exit status 2,
at most 3 lines of output, no traceback, a line holding the expected snippet, and no file or
directory created or modified anywhere in the workspace (compared before and after).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from hadas.cli.main import main
from hadas.storage import run_lock

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TINY = CONFIGS / "tiny-digits.yaml"
ARCH = {"resolution": 32, "width": [8, 8, 16, 24, 32, 40, 56, 64, 128],
        "depth": [1, 1, 1, 1, 1, 1, 1], "kernel_size": [3] * 7, "expand_ratio": [1, 3, 3, 3, 3, 6, 6]}
NOT_UTF8 = b"name: \xff\xfe caf\xe9\n"


class Workspace:
    """Files the cases point at, made inside the workspace before its snapshot."""

    def __init__(self, root: Path):
        self.root = root

    def file(self, name: str, content: bytes | str) -> str:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return str(path)

    def config(self, dotted: str | None = None, value: Any = None, raw: str | None = None) -> str:
        """The tiny config with one dotted key set (or replaced by raw YAML text)."""
        if raw is not None:
            return self.file(f"cfg-{_digest(raw)}.yaml", raw)
        data = yaml.safe_load(TINY.read_text())
        if dotted:
            *parents, last = dotted.split(".")
            node = data
            for key in parents:
                node = node.setdefault(key, {})
            node[last] = value
        text = yaml.safe_dump(data)
        return self.file(f"cfg-{_digest(text)}.yaml", text)

    def run(self, result: Any, name: str | None = None) -> str:
        """A run directory holding `result` as its result.json (bytes are written as they are)."""
        raw = result if isinstance(result, bytes) else json.dumps(result).encode()
        folder = f"run-{name or _digest(raw.decode('latin-1'))}"
        self.file(f"{folder}/result.json", raw)
        return str(self.root / folder)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:10]


def deep(n: int) -> str:
    return "[" * n + "]" * n


def valid_result() -> dict[str, Any]:
    """The smallest result.json a reader accepts: one DyNN."""
    dynn = {"exits": {"positions": [3], "policy": "max_softmax", "threshold": 0.8},
            "dvfs_hz": {}, "top1": 90.0, "latency_ms": 1.0, "energy_mj": 2.0,
            "exit_rates": [0.5, 0.5], "exit_accuracy": [95.0, 85.0],
            "provenance": {"latency_ms": "modelled", "energy_mj": "modelled"}}
    return {"name": "tiny-digits", "mode": "hadas", "seed": 0, "platform": "local",
            "config": yaml.safe_load(TINY.read_text()), "supernet": {}, "hypervolume": [1.0],
            "reference_point": [100, 10, 10], "archive": [{"backbone": ARCH, "dynn": dynn,
                                                          "generation": 0}],
            "evaluated": [], "scored": [], "breakdown": None, "config_fingerprint": "x"}


def result_with(**changes: Any) -> dict[str, Any]:
    out = valid_result()
    for key, value in changes.items():
        if value is None:
            del out[key]
        else:
            out[key] = value
    return out


def bad_dynn(**changes: Any) -> dict[str, Any]:
    out = valid_result()
    out["archive"][0]["dynn"].update(changes)
    return out


@dataclass(frozen=True)
class Case:
    id: str
    argv: Callable[[Workspace], list[str]]
    snippet: str


def cfg_case(id: str, dotted: str, value: Any, snippet: str) -> Case:
    return Case(id, lambda w: ["describe", "--config", w.config(dotted, value), "--arch", "min"],
                snippet)


def arch_case(id: str, arch: Callable[[Workspace], str], snippet: str) -> Case:
    return Case(id, lambda w: ["describe", "--config", str(TINY), "--arch", arch(w)], snippet)


def report_case(id: str, result: Any, snippet: str) -> Case:
    return Case(id, lambda w: ["report", w.run(result), "--out", str(w.root / "new-report")],
                snippet)


def arch_with(**changes: Any) -> str:
    return json.dumps({**ARCH, **changes})


TINY_ARGS = ["--config", str(TINY)]
HW = ["hw", "estimate", "--platform", "agx-xavier", "--arch", "a0", *(
    ["--config", str(CONFIGS / "hadas-cifar100.yaml")])]

CASES = [
    # --- config files ----------------------------------------------------------------------------
    Case("config-missing", lambda w: ["describe", "--config", str(w.root / "nope.yaml"),
                                      "--arch", "min"], "file not found"),
    Case("config-not-utf8", lambda w: ["describe", "--config", w.file("latin.yaml", NOT_UTF8),
                                       "--arch", "min"], "not UTF-8"),
    Case("config-bad-yaml", lambda w: ["describe", "--config", w.config(raw="a: [1, 2\n"),
                                       "--arch", "min"], "not valid YAML"),
    Case("config-deep-yaml", lambda w: ["describe", "--config", w.config(raw="a: " + deep(3000)),
                                        "--arch", "min"], "nests deeper"),
    Case("config-a-list", lambda w: ["describe", "--config", w.config(raw="- 1\n- 2\n"),
                                     "--arch", "min"], "must be a mapping"),
    Case("config-empty", lambda w: ["describe", "--config", w.config(raw=""), "--arch", "min"],
         "must be a mapping"),
    Case("config-a-folder", lambda w: ["describe", "--config", str(w.root), "--arch", "min"],
         "file not found"),
    cfg_case("unknown-section", "nonsense", 1, "unknown section"),
    cfg_case("unknown-train-key", "train.epoch", 3, "train.epoch: unknown key"),
    cfg_case("epochs-zero", "train.epochs", 0, "train.epochs"),
    cfg_case("epochs-huge", "train.epochs", 10**12, "train.epochs: must be <="),
    cfg_case("batch-text", "train.batch_size", "abc", "must be an integer"),
    cfg_case("batch-huge", "evaluation.batch_size", 10**9, "evaluation.batch_size"),
    cfg_case("lr-nan", "train.base_lr", float("nan"), "finite"),
    cfg_case("lr-inf", "train.base_lr", float("inf"), "finite"),
    cfg_case("dropout-over-one", "model.dropout", 1.5, "model.dropout"),
    cfg_case("val-fraction-nan", "data.val_fraction", float("nan"), "finite"),
    cfg_case("dataset-unknown", "data.dataset", "mnist", "data.dataset"),
    cfg_case("classes-huge", "data.n_classes", 10**9, "data.n_classes"),
    cfg_case("seed-negative", "seed", -1, "seed"),
    cfg_case("seed-2-70", "seed", 2**70, "seed: must be <="),
    cfg_case("policy-unknown", "exits.policy", "vote", "exits.policy"),
    cfg_case("exit-channels-huge", "exits.exit_channels", 10**7, "exits.exit_channels"),
    cfg_case("population-huge", "search.ooe.population", 10**9, "search.ooe.population"),
    cfg_case("ioe-dvfs-unknown", "search.ioe.dvfs", "maybe", "search.ioe.dvfs"),
    cfg_case("min-top1-over-100", "search.constraints.min_top1", 150.0, "min_top1"),
    cfg_case("thresholds-nan", "search.thresholds", [0.5, float("nan")], "finite"),
    cfg_case("name-empty", "name", "", "name"),
    cfg_case("width-1e12", "supernet_config.mb1.c", [8, 10**12], "supernet_config.mb1.c"),
    cfg_case("resolution-huge", "supernet_config.resolutions", [24, 100000], "resolutions"),
    cfg_case("kernel-even", "supernet_config.mb2.k", [3, 4], "odd"),
    cfg_case("stride-three", "supernet_config.mb2.s", 3, "supernet_config.mb2.s"),
    cfg_case("stage-missing", "supernet_config.mb3", None, "supernet_config.mb3"),
    # --- architectures ---------------------------------------------------------------------------
    arch_case("arch-unknown-name", lambda w: "a9", "neither a reference name"),
    arch_case("arch-bad-json", lambda w: '{"resolution": 32,', "not valid JSON"),
    arch_case("arch-deep-json", lambda w: "{\"a\": " + deep(30000) + "}", "nests deeper"),
    arch_case("arch-width-1e12", lambda w: arch_with(width=[1e12] + ARCH["width"][1:]),
              "not a candidate"),
    arch_case("arch-missing-key", lambda w: json.dumps({"resolution": 32}), "missing"),
    arch_case("arch-depth-text", lambda w: arch_with(depth=["1"] * 7), "list of integers"),
    arch_case("arch-file-not-utf8", lambda w: w.file("arch.json", b'{"resolution": \xff}'),
              "not UTF-8"),
    arch_case("arch-file-deep", lambda w: w.file("deep.json", deep(5000)), "nests deeper"),
    arch_case("arch-file-missing", lambda w: str(w.root / "none.json"), "neither"),
    # --- search ----------------------------------------------------------------------------------
    Case("ioe-without-backbones", lambda w: ["search", *TINY_ARGS, "--mode", "ioe",
                                             "--run-dir", str(w.root / "r")], "backbones"),
    Case("ioe-bad-backbone", lambda w: ["search", *TINY_ARGS, "--mode", "ioe", "--backbones",
                                        "max,a9", "--run-dir", str(w.root / "r")], "a9"),
    Case("ioe-blank-backbones", lambda w: ["search", *TINY_ARGS, "--mode", "ioe", "--backbones",
                                           " ", "--run-dir", str(w.root / "r")], "backbones"),
    Case("backbones-without-ioe", lambda w: ["search", *TINY_ARGS, "--backbones", "max",
                                             "--run-dir", str(w.root / "r")], "only mode ioe"),
    Case("search-seed-negative", lambda w: ["search", *TINY_ARGS, "--seed", "-1",
                                            "--run-dir", str(w.root / "r")], "seed"),
    Case("search-seed-2-70", lambda w: ["search", *TINY_ARGS, "--seed", str(2**70),
                                        "--run-dir", str(w.root / "r")], "seed"),
    Case("search-workers-negative", lambda w: ["search", *TINY_ARGS, "--executor", "process",
                                               "--workers", "-1", "--run-dir", str(w.root / "r")],
         "workers"),
    Case("search-workers-text", lambda w: ["search", *TINY_ARGS, "--workers", "many"],
         "invalid int"),
    Case("search-mode-unknown", lambda w: ["search", *TINY_ARGS, "--mode", "best"],
         "invalid choice"),
    Case("search-executor-unknown", lambda w: ["search", *TINY_ARGS, "--executor", "gpu"],
         "invalid choice"),
    Case("search-address-serial", lambda w: ["search", *TINY_ARGS, "--address", "ray://x:1",
                                             "--run-dir", str(w.root / "r")], "address"),
    Case("search-supernet-missing", lambda w: ["search", *TINY_ARGS, "--supernet",
                                               str(w.root / "none.pt"), "--run-dir",
                                               str(w.root / "r")], "not found"),
    Case("search-config-not-utf8", lambda w: ["search", "--config",
                                              w.file("latin2.yaml", NOT_UTF8)], "not UTF-8"),
    Case("search-run-dir-in-use", lambda w: ["search", *TINY_ARGS, "--run-dir",
                                             str(w.root / "busy")], "is in use by process"),
    # --- supernet commands -----------------------------------------------------------------------
    Case("train-config-bad", lambda w: ["train-supernet", "--config", w.config("train.epochs", -5),
                                        "--out", str(w.root / "s")], "train.epochs"),
    Case("train-out-exists", lambda w: ["train-supernet", *TINY_ARGS, "--out", str(
        Path(w.file("trained/supernet.pt", b"x")).parent)], "exists"),
    Case("train-timeout-negative", lambda w: ["train-supernet", *TINY_ARGS, "--out",
                                              str(w.root / "s"), "--collective-timeout", "-1"],
         "collective-timeout"),
    Case("train-timeout-nan", lambda w: ["train-supernet", *TINY_ARGS, "--out", str(w.root / "s"),
                                         "--collective-timeout", "nan"], "collective-timeout"),
    Case("evaluate-checkpoint-missing", lambda w: ["evaluate", *TINY_ARGS, "--checkpoint",
                                                   str(w.root / "none.pt"), "--arch", "min"],
         "not found"),
    Case("evaluate-checkpoint-garbage", lambda w: ["evaluate", *TINY_ARGS, "--checkpoint",
                                                   w.file("garbage.pt", b"\x00junk" * 50),
                                                   "--arch", "min"], "cannot read checkpoint"),
    Case("evaluate-checkpoint-truncated-zip", lambda w: ["evaluate", *TINY_ARGS, "--checkpoint",
                                                         w.file("cut.pt", b"PK\x03\x04" + b"\x00" * 40),
                                                         "--arch", "min"], "checkpoint"),
    Case("evaluate-split-unknown", lambda w: ["evaluate", *TINY_ARGS, "--checkpoint", "x.pt",
                                              "--arch", "min", "--split", "train"], "invalid choice"),
    # --- exits -----------------------------------------------------------------------------------
    Case("exits-position-99", lambda w: ["exits", "eval", *TINY_ARGS, "--checkpoint",
                                         w.file("s.pt", b"x"), "--arch", "max", "--exits", "2,99",
                                         "--out", str(w.root / "banks")], "99"),
    Case("exits-not-numbers", lambda w: ["exits", "eval", *TINY_ARGS, "--checkpoint", "s.pt",
                                         "--arch", "max", "--exits", "a,b"], "--exits"),
    Case("exits-duplicate", lambda w: ["exits", "eval", *TINY_ARGS, "--checkpoint", "s.pt",
                                       "--arch", "max", "--exits", "3,3"], "unique"),
    Case("exits-threshold-nan", lambda w: ["exits", "eval", *TINY_ARGS, "--checkpoint", "s.pt",
                                           "--arch", "max", "--exits", "3", "--threshold", "nan"],
         "finite"),
    Case("exits-threshold-text", lambda w: ["exits", "eval", *TINY_ARGS, "--checkpoint", "s.pt",
                                            "--arch", "max", "--exits", "3", "--threshold", "hi"],
         "--threshold"),
    Case("exits-threshold-count", lambda w: ["exits", "eval", *TINY_ARGS, "--checkpoint", "s.pt",
                                             "--arch", "max", "--exits", "3,4", "--threshold",
                                             "0.1,0.2,0.3"], "one value per exit"),
    Case("exits-train-checkpoint-missing", lambda w: ["exits", "train", *TINY_ARGS,
                                                      "--checkpoint", str(w.root / "none.pt"),
                                                      "--arch", "max"], "not found"),
    # --- result files: report, runs, export ------------------------------------------------------
    Case("report-no-result", lambda w: ["report", str(w.root / "empty-run"), "--out",
                                        str(w.root / "new-report")], "not found"),
    report_case("result-not-utf8", b'{"name": "\xff"}', "not UTF-8"),
    report_case("result-bad-json", b'{"name": ', "not valid JSON"),
    report_case("result-deep", deep(5000).encode(), "nests deeper"),
    report_case("result-a-list", [1, 2], "not an object"),
    report_case("result-no-archive", result_with(archive=None), "no 'archive'"),
    report_case("result-archive-a-dict", result_with(archive={}), "'archive' is a dict"),
    report_case("result-seed-text", result_with(seed="0"), "'seed' is a str"),
    report_case("result-top1-text", bad_dynn(top1="90"), "top1"),
    report_case("result-no-provenance", bad_dynn(provenance=None), "provenance"),
    report_case("result-entry-not-object", result_with(archive=[3]), "lacks a backbone"),
    report_case("result-hypervolume-text", result_with(hypervolume=["x"]), "hypervolume"),
    Case("runs-show-bad", lambda w: ["runs", "show", w.run(result_with(mode=None))], "'mode'"),
    Case("runs-list-bad", lambda w: ["runs", "list", "--root", str(
        Path(w.run(b"\x00\x01", name="listed")).parent)], "result.json"),
    Case("runs-compare-missing", lambda w: ["runs", "compare", w.run(valid_result(), "ok"),
                                            "--baseline", str(w.root / "none")], "not found"),
    Case("export-no-result", lambda w: ["export", str(w.root / "empty-run"), "--pick", "0",
                                        "--out", str(w.root / "bundle")], "not found"),
    Case("export-bad-result", lambda w: ["export", w.run(result_with(archive=None)), "--pick",
                                         "0", "--out", str(w.root / "bundle")], "archive"),
    Case("export-pick-99", lambda w: ["export", w.run(valid_result(), "ok"), "--pick", "99",
                                      "--out", str(w.root / "bundle")], "99"),
    Case("export-pick-negative", lambda w: ["export", w.run(valid_result(), "ok"), "--pick", "-1",
                                            "--out", str(w.root / "bundle")], "-1"),
    # --- platforms, hardware models, profiles ----------------------------------------------------
    Case("platform-unknown", lambda w: ["platforms", "show", "tx3"], "tx3"),
    Case("platform-not-utf8", lambda w: ["platforms", "show", w.file("p.yaml", NOT_UTF8)],
         "not UTF-8"),
    Case("platform-deep", lambda w: ["platforms", "show", w.file("d.yaml", "a: " + deep(3000))],
         "nests deeper"),
    Case("hw-dvfs-1e400", lambda w: [*HW, "--dvfs", "gpu=1e400"], "gpu"),
    Case("hw-dvfs-nan", lambda w: [*HW, "--dvfs", "gpu=nan"], "gpu"),
    Case("hw-dvfs-garbage", lambda w: [*HW, "--dvfs", "fast"], "dvfs"),
    Case("hw-exits-99", lambda w: [*HW, "--exits", "5,99"], "99"),
    Case("hw-exit-channels-zero", lambda w: [*HW, "--exits", "5", "--exit-channels", "0"],
         "exit"),
    Case("calibrate-profile-not-utf8", lambda w: [
        "hw", "calibrate", "--platform", "local", "--profile", w.file("prof.json", b"\xff{}"),
        "--out", str(w.root / "cal.yaml")], "not UTF-8"),
    Case("calibrate-profile-bad-json", lambda w: [
        "hw", "calibrate", "--platform", "local", "--profile", w.file("prof2.json", "{"),
        "--out", str(w.root / "cal.yaml")], "not valid JSON"),
    Case("calibrate-profile-deep", lambda w: [
        "hw", "calibrate", "--platform", "local", "--profile", w.file("prof3.json", deep(4000)),
        "--out", str(w.root / "cal.yaml")], "nests deeper"),
    Case("calibrate-train-fraction-nan", lambda w: [
        "hw", "calibrate", "--platform", "local", "--profile", w.file("prof4.json", "{}"),
        "--out", str(w.root / "cal.yaml"), "--train-fraction", "nan"], "--train-fraction"),
    Case("calibrate-seed-negative", lambda w: [
        "hw", "calibrate", "--platform", "local", "--profile", w.file("prof5.json", "{}"),
        "--out", str(w.root / "cal.yaml"), "--seed", "-3"], "seed"),
    Case("check-profile-missing", lambda w: ["hw", "check", "--platform", "local", "--profile",
                                             str(w.root / "none.json")], "not found"),
    Case("import-lut-not-utf8", lambda w: ["hw", "import-lut", w.file("lut.json", b"\xff\xfe"),
                                           "--platform", "agx-xavier", "--out",
                                           str(w.root / "lut.yaml")], "not UTF-8"),
    Case("profile-archs-zero", lambda w: ["profile", *TINY_ARGS, "--archs", "0", "--out",
                                          str(w.root / "p.json")], "archs"),
    Case("profile-repeats-zero", lambda w: ["profile", *TINY_ARGS, "--repeats", "0", "--out",
                                            str(w.root / "p.json")], "repeats"),
    Case("profile-dvfs-points-negative", lambda w: ["profile", *TINY_ARGS, "--dvfs-points", "-1",
                                                    "--out", str(w.root / "p.json")], "--dvfs-points"),
    # --- board: dvfs, agent ----------------------------------------------------------------------
    Case("dvfs-set-1e400", lambda w: ["dvfs", "--set", "gpu=1e400", "--dry-run", "--sysfs-root",
                                      str(w.root / "sys")], "gpu"),
    Case("dvfs-set-garbage", lambda w: ["dvfs", "--set", "gpu", "--dry-run", "--sysfs-root",
                                        str(w.root / "sys")], "--set"),
    Case("dvfs-hold-negative", lambda w: ["dvfs", "--set", "gpu=1000", "--hold-s", "-1",
                                          "--dry-run", "--sysfs-root", str(w.root / "sys")],
         "hold"),
    Case("agent-repeats-zero", lambda w: ["agent", "serve", *TINY_ARGS, "--platform", "local",
                                          "--token-file", w.file("token", "t" * 32),
                                          "--repeats", "0", "--port", "0"], "repeats"),
    Case("agent-port-out-of-range", lambda w: ["agent", "serve", *TINY_ARGS, "--platform", "local",
                                               "--token-file", w.file("token", "t" * 32),
                                               "--port", "70000"], "port"),
    Case("agent-token-missing", lambda w: ["agent", "serve", *TINY_ARGS, "--platform", "local",
                                           "--token-file", str(w.root / "none"), "--port", "0"],
         "token"),
    Case("agent-token-not-utf8", lambda w: ["agent", "serve", *TINY_ARGS, "--platform", "local",
                                            "--token-file", w.file("latin", b"\xff" * 40),
                                            "--port", "0"], "not UTF-8"),
    Case("search-run-dir-is-a-file", lambda w: ["search", *TINY_ARGS, "--run-dir",
                                             w.file("a-file", "x")], "as a run directory"),
    Case("agent-token-short", lambda w: ["agent", "serve", *TINY_ARGS, "--platform", "local",
                                         "--token-file", w.file("short", "abc"), "--port", "0"],
         "16"),
]


def snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every file and folder under root: (mode, size, content digest)."""
    out = {}
    for path in sorted(root.rglob("*")):
        stat = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        out[str(path.relative_to(root))] = (stat.st_mode, stat.st_size, digest)
    return out


def test_the_suite_is_large_and_its_ids_unique():
    assert len(CASES) >= 80
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_is_one_clear_line_and_writes_nothing(case: Case, tmp_path, monkeypatch,
                                                         capsys):
    import hadas.api.searching as searching

    def passed_validation(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the search started: the bad input passed validation")

    monkeypatch.setattr(searching, "_search", passed_validation)
    monkeypatch.chdir(tmp_path)
    workspace = Workspace(tmp_path)
    argv = case.argv(workspace)
    (tmp_path / "busy").mkdir(exist_ok=True)
    before = snapshot(tmp_path)
    with run_lock(tmp_path / "busy"):  # another search holds this run directory
        capsys.readouterr()
        try:
            status = main(argv)
        except SystemExit as exc:  # argparse's usage errors
            status = exc.code
    out = capsys.readouterr()
    text = out.out + out.err
    lines = [line for line in text.splitlines() if line.strip()]
    assert status == 2, text
    assert "Traceback" not in text
    assert 1 <= len(lines) <= 3, text
    assert case.snippet in lines[0], text
    after = snapshot(tmp_path)
    after.pop("busy/search.lock", None)
    before.pop("busy/search.lock", None)
    assert after == before, "files created or changed: " + ", ".join(
        sorted(set(after.items()) ^ set(before.items()), key=str)[:5].__repr__())
