"""`hadas export`: a bundle of one DyNN of a real (tiny) search run reproduces the run exactly.

The module runs one real search on a shrunk tiny-digits config (1 supernet epoch, 1 exit epoch,
one generation; about 10 s on 2 cores), exports archive entry 0 once, and checks the bundle.
The threshold grid is low so that the untrained-ish exits really let samples leave early.
"""
from __future__ import annotations

import copy
import importlib.util
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CONFIGS, small_config

from hadas import api

from hadas.cli import main as cli_main
from hadas.data import TensorLoader
from hadas.errors import ConfigError, HadasError
from hadas.exits import ExitCache, ExitSimulator, MultiExitNetwork, build_heads
from hadas.export import build_program, pick_dynn, rebuild, split_network
from hadas.space import ExitPlan

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, one_torch_thread) -> Path:
    root = tmp_path_factory.mktemp("export-run")
    config = small_config(root / "small.yaml", train=dict(epochs=1, warmup_epochs=0),
                          exits=dict(epochs=1, warmup_epochs=0),
                          search=dict(thresholds=[0.2, 0.25]),
                          ooe=dict(population=2, generations=1, n_crossover=1, n_mutation=1,
                                   survival_ratio=0.5),
                          ioe=dict(population=4, generations=1, n_crossover=2, n_mutation=2))
    _, run = api.search(config, run_dir=root / "run", device="cpu", progress=False,
                        say=lambda s: None, supernet_dir=root / "supernet")
    return run


@pytest.fixture(scope="module")
def result(run_dir) -> dict:
    return json.loads((run_dir / "result.json").read_text())


@pytest.fixture(scope="module")
def pick(result) -> int:
    """The first archive DyNN that sends samples out early (which one it is depends on the
    CPU's floating-point kernels: the 1-epoch supernet is barely trained)."""
    return next((i for i, e in enumerate(result["archive"]) if e["dynn"]["exit_rates"][-1] < 1.0),
                0)


@pytest.fixture(scope="module")
def bundle(run_dir, pick, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / f"dynn{pick}"
    api.export_dynn(run_dir, pick, out, device="cpu")
    return out


@pytest.fixture(scope="module")
def rebuilt(run_dir, pick):
    """The DyNN's network and data, rebuilt the way the export does."""
    picked = pick_dynn(run_dir, pick)
    art, data = rebuild(picked, torch.device("cpu"))
    return picked, art, data


def _load(bundle: Path) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch calls TorchScript deprecated
        return torch.jit.load(str(bundle / "program.pt"))


def _run(program, loader) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    out = [(*program(x), y) for x, y in loader]
    return tuple(torch.cat([o[i] for o in out]).numpy() for i in range(3))


def _cli(argv: list[str]) -> int:
    """`hadas export ...` through the real entry point."""
    return cli_main.main(argv)


def test_program_reproduces_the_runs_top1_and_exit_rates_exactly(bundle, result, rebuilt, pick):
    picked, art, data = rebuilt
    dynn = result["archive"][pick]["dynn"]
    plan = ExitPlan.from_dict(dynn["exits"])
    split = data.split(picked.cfg.data.eval_split)
    loader = TensorLoader(split, picked.cfg.evaluation.batch_size, mean=data.mean, std=data.std)
    pred, exit_index, labels = _run(_load(bundle), loader)
    n = len(labels)
    assert 100.0 * (pred == labels).sum() / n == dynn["top1"]
    rates = np.bincount(exit_index, minlength=len(plan.positions) + 1) / n
    assert rates.tolist() == dynn["exit_rates"]
    assert dynn["exit_rates"][-1] < 1.0, "nothing left early: the test would prove little"
    cache = ExitCache.load(picked.exits_dir / art.key / "cache.npz")  # the run's own cache
    sim = ExitSimulator(cache).simulate(plan, per_sample=True)
    np.testing.assert_array_equal(exit_index, sim.exit_index)


def test_batch_one_and_batched_give_the_same_predictions_and_exits(bundle, rebuilt):
    picked, _, data = rebuilt
    split = data.split(picked.cfg.data.eval_split)
    program = _load(bundle)
    n = 48
    x, _ = next(iter(TensorLoader(split, n, mean=data.mean, std=data.std)))
    batched = program(x)
    singles = [program(x[i:i + 1]) for i in range(n)]
    assert torch.equal(batched[0], torch.cat([s[0] for s in singles]))
    assert torch.equal(batched[1], torch.cat([s[1] for s in singles]))
    raw = program.from_uint8(split.images[:n])  # normalising inside gives the same answers
    assert torch.equal(raw[0], batched[0]) and torch.equal(raw[1], batched[1])


# (positions, policy, quantile of the first exit's score): thresholds taken from the exit cache,
# as real sample values, so that exits really split the samples and ties sit on the boundary
PLANS = [((2, 5), "max_softmax", 0.7), ((3, 5, 7), "max_softmax", 0.5),
         ((2, 6), "entropy", 0.4), ((4,), "entropy", 0.6)]


@pytest.mark.parametrize("positions,policy,q", PLANS, ids=lambda v: str(v))
def test_program_equals_early_exit_and_the_simulator(rebuilt, positions, policy, q):
    picked, art, data = rebuilt
    scores = (art.cache.max_softmax if policy == "max_softmax" else art.cache.entropy)
    first = scores[art.cache.row(positions[0])]
    thresholds = tuple(float(np.quantile(first, q + 0.1 * i, method="lower"))
                       for i in range(len(positions)))
    plan = ExitPlan(positions, policy, thresholds)
    split = data.split(picked.cfg.data.eval_split)
    loader = TensorLoader(split, 128, mean=data.mean, std=data.std)
    x0 = next(iter(loader))[0][:2]
    program = build_program(split_network(art.network, plan), plan, x0, data.mean, data.std)
    for x, _ in loader:
        ref = art.network.early_exit(x, plan)
        got = program(x)
        assert torch.equal(got[0], ref[0]) and torch.equal(got[1], ref[1])
    pred, exit_index, labels = _run(program, loader)
    sim = ExitSimulator(art.cache).simulate(plan, per_sample=True)
    np.testing.assert_array_equal(exit_index, sim.exit_index)
    assert 100.0 * (pred == labels).sum() / len(labels) == sim.top1
    assert 0 < (exit_index < len(plan.positions)).sum() < len(labels)  # a real mix of exits


def test_confidence_policy_equals_early_exit(rebuilt):
    _, art, data = rebuilt
    backbone = art.network.backbone
    torch.manual_seed(0)
    heads = build_heads(backbone.skeleton, art.positions, 16, confidence=True)
    net = MultiExitNetwork(backbone, heads).eval()
    plan = ExitPlan((2, 6), "confidence", (0.5, 0.49))
    x, _ = next(iter(TensorLoader(data.split("test"), 200, mean=data.mean, std=data.std)))
    program = build_program(split_network(net, plan), plan, x[:2], data.mean, data.std)
    ref, got = net.early_exit(x, plan), program(x)
    assert torch.equal(got[0], ref[0]) and torch.equal(got[1], ref[1])
    assert len(set(got[1].tolist())) > 1
    with pytest.raises(ConfigError, match="confidence branch"):
        build_program(split_network(art.network, plan), plan, x[:2], data.mean, data.std)


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None,
                    reason="onnxruntime not installed (pip install -e '.[export]')")
def test_every_onnx_piece_matches_its_torch_module(bundle, rebuilt):
    import onnxruntime as ort

    picked, art, data = rebuilt
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["onnx"]["status"] == "ok", manifest["onnx"]["reasons"]
    pieces = split_network(art.network, picked.plan)
    k = len(picked.plan.positions)
    names = sorted(Path(f["path"]).name for f in manifest["onnx"]["files"])
    assert names == sorted([f"segment_{i}.onnx" for i in range(k + 1)]
                           + [f"exit_{i}.onnx" for i in range(k)])
    for n in (1, 5):  # the batch axis is dynamic
        x, _ = next(iter(TensorLoader(data.split("test"), n, mean=data.mean, std=data.std)))
        with torch.no_grad():
            for i, seg in enumerate(pieces.segments):
                runs = [(f"segment_{i}.onnx", seg, x)]
                if i < k:
                    feats = seg(x)
                    runs.append((f"exit_{i}.onnx", pieces.heads[i], feats))
                for name, module, inp in runs:
                    sess = ort.InferenceSession(str(bundle / "onnx" / name),
                                                providers=["CPUExecutionProvider"])
                    got = sess.run(None, {sess.get_inputs()[0].name: inp.numpy()})[0]
                    np.testing.assert_allclose(got, module(inp).numpy(), rtol=1e-4, atol=1e-4,
                                               err_msg=f"{name} at batch {n}")
                if i < k:
                    x = feats


def test_manifest_describes_the_run_and_lists_every_file(bundle, result, pick):
    from hadas.hardware.clocks import parse_clocks

    m = json.loads((bundle / "manifest.json").read_text())
    entry, dynn = result["archive"][pick], result["archive"][pick]["dynn"]
    assert m["arch"] == entry["backbone"]
    assert {k: m["exit_plan"][k] for k in ("positions", "policy", "threshold")} == dynn["exits"]
    assert m["dvfs"]["hz"] == {d: int(v) for d, v in dynn["dvfs_hz"].items()}
    assert m["dvfs"]["mhz"] == {d: v / 1e6 for d, v in m["dvfs"]["hz"].items()}
    assert m["apply_dvfs"].startswith("hadas dvfs --set ")
    assert parse_clocks(m["apply_dvfs"].removeprefix("hadas dvfs --set ")) == m["dvfs"]["hz"]
    for key in ("top1", "latency_ms", "energy_mj", "exit_rates", "provenance"):
        assert m["expected"][key] == dynn[key]
    assert set(m["expected"]["provenance"].values()) <= {"modelled", "calibrated", "measured"}
    assert m["platform"] == result["platform"]
    assert {k: m["run"][k] for k in ("name", "mode", "seed", "config_fingerprint")} == \
        {k: result[k] for k in ("name", "mode", "seed", "config_fingerprint")}
    assert m["supernet"]["checkpoint"] == result["supernet"]["checkpoint"]
    from hadas.export import sha256_file
    assert m["supernet"]["sha256"] == sha256_file(result["supernet"]["checkpoint"])
    assert m["input"]["shape"] == ["N", 3, 8, 8] and m["input"]["dtype"] == "float32"
    assert m["verification"]["program_matches_run"] is True
    listed = {f["path"]: f["sha256"] for f in m["files"]}
    on_disk = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    assert set(listed) == on_disk - {"manifest.json"}
    assert {"program.pt", "README.md"} <= set(listed)
    assert all(sha256_file(bundle / p) == h for p, h in listed.items())
    readme = (bundle / "README.md").read_text()
    assert "torch.jit.load" in readme and m["apply_dvfs"] in readme


def test_a_bad_pick_exits_2_naming_the_allowed_range(run_dir, result, tmp_path, capsys):
    n = len(result["archive"])
    for pick in (n, -1):
        assert _cli(["export", str(run_dir), "--pick", str(pick), "--out",
                     str(tmp_path / "b")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("hadas: error: --pick") and f"0..{n - 1}" in err, err
    assert not (tmp_path / "b").exists()


def _edited_run(result: dict, tmp_path: Path, edit) -> Path:
    data = copy.deepcopy(result)
    edit(data)
    run = tmp_path / "edited-run"
    run.mkdir()
    (run / "result.json").write_text(json.dumps(data))
    return run


def test_oracle_policy_is_refused_clearly(result, tmp_path, capsys):
    run = _edited_run(result, tmp_path, lambda d: d["archive"][0]["dynn"]["exits"].update(
        policy="oracle"))
    with pytest.raises(ConfigError, match="oracle.*cannot be exported"):
        api.export_dynn(run, 0, tmp_path / "b")
    assert _cli(["export", str(run), "--pick", "0", "--out", str(tmp_path / "b")]) == 2
    assert "oracle" in capsys.readouterr().err


def test_a_result_of_an_older_hadas_asks_to_rerun_the_search(result, tmp_path):
    run = _edited_run(result, tmp_path, lambda d: (d.pop("config"), d.pop("supernet")))
    with pytest.raises(HadasError, match="older hadas.*rerun `hadas search`"):
        api.export_dynn(run, 0, tmp_path / "b")


def test_a_folder_that_is_not_a_bundle_is_not_overwritten(run_dir, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(HadasError, match="not an earlier bundle"):
        api.export_dynn(run_dir, 0, out)
    assert (out / "notes.txt").read_text() == "keep me"


def test_building_the_parser_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, argparse; from hadas.cli import export; "
            "p = argparse.ArgumentParser(); export.register(p.add_subparsers()); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_onnx_falls_back_to_the_legacy_exporter_and_says_why_when_none_works(rebuilt, tmp_path,
                                                                             monkeypatch):
    from hadas.export import onnx_files

    picked, art, data = rebuilt
    pieces = split_network(art.network, picked.plan)
    x, _ = next(iter(TensorLoader(data.split("test"), 2, mean=data.mean, std=data.std)))
    monkeypatch.setattr(onnx_files, "dynamo_available", lambda: "onnxscript not installed")
    report = onnx_files.export_onnx(pieces, x, tmp_path / "legacy")
    assert report.status == "ok" and "onnxscript not installed" in report.reasons[0]
    assert {f["exporter"] for f in report.files} == {"torchscript (legacy)"}

    def broken(*args, **kwargs):
        raise RuntimeError("no exporter here")
    monkeypatch.setattr(onnx_files, "export_piece", broken)
    report = onnx_files.export_onnx(pieces, x, tmp_path / "none")
    assert report.status == "unavailable" and not report.files
    assert all("no exporter here" in r for r in report.reasons[1:])


# --- hadas validate ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def validated(run_dir, tmp_path_factory) -> tuple[Path, list[str]]:
    """A copy of the run (its first 3 DyNNs), validated through the command line on this CPU."""
    import contextlib
    import io
    import shutil

    copy_dir = tmp_path_factory.mktemp("validated") / "run"
    shutil.copytree(run_dir, copy_dir)
    result = json.loads((copy_dir / "result.json").read_text())
    result["archive"] = result["archive"][:3]  # each DyNN scripts a program: keep it short
    (copy_dir / "result.json").write_text(json.dumps(result))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli_main.main(["validate", str(copy_dir), "--quiet", "--batch", "8"]) == 0
    return copy_dir, out.getvalue().splitlines()


def test_validate_runs_every_dynn_for_real_and_compares_with_the_prediction(validated):
    run, printed = validated
    result = json.loads((run / "result.json").read_text())
    v = result["validation"]
    assert v["n_dynns"] == len(result["archive"]) == len(v["dynns"]) and v["device"] == "cpu"
    assert v["batch"] == 8
    assert v["all_reproduce_run"]  # the early-exit programs behave as the simulator said
    for row, entry in zip(v["dynns"], result["archive"]):
        assert row["predicted_ms"] == entry["dynn"]["latency_ms"]
        assert row["measured_ms"] > 0 and row["static_ms"] > 0
        assert row["speedup"] == pytest.approx(row["static_ms"] / row["measured_ms"])
        assert row["exit_rates"] == pytest.approx(entry["dynn"]["exit_rates"])
    assert v["latency_mape_pct"] >= 0 and 1 <= v["nondominated_measured"] <= v["n_dynns"]
    assert v["latency_provenance"] == ["calibrated"]
    assert v["energy_measured"] or v["energy_unavailable"]  # measured, or said why not
    assert any("MAPE" in line and "Kendall tau" in line for line in printed)
    assert any(line.startswith("energy: ") for line in printed)


def test_the_report_shows_the_validation(validated, render_page, tmp_path):
    run, _ = validated
    index = run / "report" / "index.html"  # validate rewrote the report
    assert "validation-section" in index.read_text()
    shown = render_page(index, selectors=["img#validation", "table#validation"])
    assert shown.problems == []
    assert shown.elements["img#validation"].visible and shown.elements["img#validation"].loaded
    assert shown.elements["table#validation"].visible


def test_validate_refuses_a_bad_batch(run_dir):
    with pytest.raises(ConfigError, match="batch"):
        api.validate_run(run_dir, batch=0)


def test_validate_through_a_device_agent(validated, tmp_path):
    """With --agent, each DyNN's segments are measured on the agent's board (here this CPU on
    loopback) and composed with the exit rates of the real inference run here."""
    import shutil

    from hadas.api.board import BoardMeasurer, agent_backend
    from test_agent import TOKEN, serve

    run = tmp_path / "run"
    shutil.copytree(validated[0], run)
    token = tmp_path / "token"
    token.write_text(TOKEN)
    measurer = BoardMeasurer(CONFIGS / "tiny-digits.yaml", "local", device="cpu", warmup=1)
    for url in serve(agent_backend(measurer, default_repeats=3)):
        v = api.validate_run(run, batch=8, agent=url, token_file=token)
    assert v["device"].startswith(f"agent {url} (local") and v["n_dynns"] == 3
    assert all(r["measured_ms"] > 0 and r["static_ms"] > 0 for r in v["dynns"])
    assert v["energy_measured"] or v["energy_unavailable"].startswith("unavailable")
    with pytest.raises(HadasError, match="401"):  # a wrong token: before any work
        token.write_text("not-the-agents-token-0000")
        for url in serve(agent_backend(measurer)):
            api.validate_run(run, agent=url, token_file=token)
