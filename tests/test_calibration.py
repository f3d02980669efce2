"""The profile file format, fit metrics and calibration of a platform's model coefficients."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import CONFIGS, raises_config_error
from hadas import api
from hadas.cli.main import main
from hadas.hardware import HardwareModel, get_platform, load_platform_file
from hadas.hardware.analytical import layer_table
from hadas.hardware.calibration import calibrate
from hadas.errors import ConfigError
from hadas.hardware.fit_metrics import kendall_tau, mape
from hadas.hardware.operations import Operation
from hadas.hardware.profile_format import (Measured, NetworkSample, OperationSample, Profile,
                                           ProfileSample, SegmentSample, append_sample,
                                           read_profile, write_profile)
from hadas.space import BackboneSpace, ExitPlan

CIFAR100 = str(CONFIGS / "hadas-cifar100.yaml")
NO_ENERGY = "no power sensor in the test"


@pytest.fixture(scope="module")
def space(cifar100_cfg) -> BackboneSpace:
    return BackboneSpace(cifar100_cfg.supernet)


def dynns(space: BackboneSpace, n: int, seed: int):
    """`n` random backbones, each with 0-2 random exits."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        backbone = space.sample(rng)
        sk = space.skeleton(backbone)
        k = int(rng.integers(0, 3))
        out.append((backbone, sk, ExitPlan(tuple(rng.choice(np.arange(5, sk.n_blocks), k,
                                                            replace=False)))))
    return out


def model_samples(truth, space, n_dynns=24, points=3, noise=0.02, seed=1) -> list[ProfileSample]:
    """Samples measured on a 'board' that follows the model with coefficients `truth`."""
    rng = np.random.default_rng(seed)
    model = HardwareModel(truth, 224)
    samples = []
    for backbone, sk, plan in dynns(space, n_dynns, seed):
        for _ in range(points):
            dvfs = {d: int(rng.choice(truth.dvfs_hz[d])) for d in truth.domains}
            c = model.costs_at(sk, plan, **{f"{d}_hz": f for d, f in dvfs.items()}).point(0)
            lat, en = (rng.lognormal(0.0, noise, len(c.kinds)) for _ in range(2))
            samples.append(ProfileSample(backbone.to_dict(), plan.to_dict(), dvfs, tuple(
                SegmentSample(k, i, float(t * a), 0.01, float(e * b), None)
                for k, i, t, e, a, b in zip(c.kinds, c.indices, c.latency_ms, c.energy_mj,
                                            lat, en))))
    return samples


def other_law_samples(space, n_dynns=20, points=3, seed=2) -> list[ProfileSample]:
    """Timings from a law that is not the model (compute + memory added, not max'ed; a fixed
    per-kernel cost), no energy: what a board without a power sensor returns."""
    rng = np.random.default_rng(seed)
    p = get_platform("nano")
    samples = []
    for backbone, sk, plan in dynns(space, n_dynns, seed):
        table = layer_table(sk, plan, 224)
        for _ in range(points):
            dvfs = {d: int(rng.choice(p.dvfs_hz[d])) for d in p.domains}
            per_op = (table.macs / (40e9 * dvfs["gpu"] / p.dvfs_hz["gpu"][-1])
                      + table.bytes_moved / (8e9 * dvfs["emc"] / p.dvfs_hz["emc"][-1])
                      + table.kernels * (30e-6 + 1.5e4 / dvfs["cpu"]))
            seg_ms = table.segment_sum(per_op) * 1e3 * rng.lognormal(0, 0.03, len(table.starts))
            samples.append(ProfileSample(backbone.to_dict(), plan.to_dict(), dvfs, tuple(
                SegmentSample(k, i, float(t), 0.0, None, NO_ENERGY)
                for k, i, t in zip(table.segment_kinds, table.segment_indices, seg_ms))))
    return samples


# --- profile format --------------------------------------------------------------------------

def test_profile_round_trip_and_append_only(tmp_path, space):
    samples = model_samples(get_platform("nano"), space, n_dynns=3, points=1)
    path = tmp_path / "p.jsonl"
    written = write_profile(path, "nano", CIFAR100, 224, samples[:1], host={"hostname": "t"})
    assert read_profile(path) == written
    header, first = [json.loads(line) for line in path.read_text().splitlines()]
    assert header["format"] == "hadas-profile/3" and "samples" not in header
    assert first["kind"] == "dynn" and first["dvfs"] == samples[0].dvfs
    before = path.read_bytes()
    append_sample(path, samples[1])
    after = path.read_bytes()
    assert after.startswith(before)  # appended: nothing before it was rewritten
    assert read_profile(path).samples == tuple(samples[:2])
    assert samples[0].key != samples[1].key
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.jsonl"]   # no temporary left over


def test_a_torn_last_line_is_skipped_and_replaced_by_the_next_append(tmp_path, space):
    samples = model_samples(get_platform("nano"), space, n_dynns=3, points=1)
    path = tmp_path / "p.jsonl"
    write_profile(path, "nano", CIFAR100, 224, samples[:1])
    whole = path.read_bytes()
    line = json.dumps(samples[1].to_dict()).encode()
    path.write_bytes(whole + line[: len(line) // 2])  # a crash in the middle of an append
    assert read_profile(path).samples == tuple(samples[:1])
    append_sample(path, samples[2])
    assert read_profile(path).samples == (samples[0], samples[2])
    assert path.read_bytes().startswith(whole) and path.read_bytes().endswith(b"\n")


def test_single_document_profiles_still_read_and_turn_into_lines_on_append(tmp_path, space):
    samples = model_samples(get_platform("nano"), space, n_dynns=2, points=1)
    path = tmp_path / "p.json"
    document = {"format": "hadas-profile/2", "platform": "nano", "config": CIFAR100,
                "exit_channels": 224, "created": "2026-01-01T00:00:00+00:00", "host": {},
                "samples": [samples[0].to_dict()]}
    path.write_text(json.dumps(document, indent=1))
    assert read_profile(path).samples == tuple(samples[:1])
    append_sample(path, samples[1])
    assert json.loads(path.read_text().splitlines()[0])["format"] == "hadas-profile/3"
    assert read_profile(path).samples == tuple(samples)
    document["format"] = "hadas-profile/1"       # the first format (no sample kinds) still reads
    for sample in document["samples"]:
        del sample["kind"]
    path.write_text(json.dumps(document))
    assert read_profile(path).samples == tuple(samples[:1])


def test_a_sample_that_does_not_fit_the_profile_is_refused_before_it_is_written(tmp_path, space):
    samples = model_samples(get_platform("nano"), space, n_dynns=1, points=1)
    path = tmp_path / "p.jsonl"
    write_profile(path, "nano", None, None)  # no config: dynn samples cannot join it
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="profile.config"):
        append_sample(path, samples[0])
    assert path.read_bytes() == before


def test_profile_holds_operations_and_network_totals(tmp_path, space):
    op = Operation("mbconv", 24, 24, 28, 5, 1, 72, True, 24, "hswish", add_fused=True)
    measured = Measured(0.9, 0.01, 4.2, None)
    samples = [OperationSample(op.to_dict(), {"gpu": 1_377_000_000}, measured, "a block"),
               NetworkSample(space.sample(np.random.default_rng(0)).to_dict(), {},
                             Measured(7.5, 0.1, None, NO_ENERGY))]
    path = tmp_path / "p.json"
    written = write_profile(path, "agx-xavier", CIFAR100, None, samples)
    assert read_profile(path) == written and [s.kind for s in written.samples] == [
        "operation", "network"]
    kinds = [c.kind for c in op.layer_costs()]   # expand, hswish, dw, hswish, SE x4, project, add
    assert kinds == ["pwconv", "elementwise", "dwconv", "elementwise", "pool", "pwconv",
                     "pwconv", "elementwise", "pwconv", "elementwise"]
    assert sum(c.kernels for c in op.layer_costs()) == 9     # the fused add has no kernel
    data = written.to_dict()                     # the single-document form reads too
    data["samples"][0]["op"]["act"] = "gelu"
    path.write_text(json.dumps(data))
    with raises_config_error("profile.samples[0].op.act", "relu, hswish, none"):
        read_profile(path)
    data["samples"][0]["op"]["act"] = "relu"
    data["config"] = None
    path.write_text(json.dumps(data))
    with raises_config_error("profile.config", "network samples"):
        read_profile(path)


def test_profile_validation_names_the_field(tmp_path, space):
    sample = model_samples(get_platform("nano"), space, n_dynns=1, points=1)[0].to_dict()
    base = {"format": "hadas-profile/1", "platform": "nano", "config": CIFAR100,
            "exit_channels": 224, "created": "2026-01-01T00:00:00+00:00", "host": {},
            "samples": [sample]}
    path = tmp_path / "bad.json"

    def check(field, *snippets, **changes):
        data = json.loads(json.dumps(base))
        for dotted, value in changes.items():
            node = data
            *parents, last = dotted.split("__")
            for key in parents:
                node = node[int(key)] if key.isdigit() else node[key]
            node[last] = value
        path.write_text(json.dumps(data))
        with raises_config_error(field, *snippets):
            read_profile(path)

    check("profile.format", "hadas-profile/2", format="hadas-profile/0")
    check("profile.samples[0].segments[0].latency_ms", "> 0",
          samples__0__segments__0__latency_ms=-1.0)
    check("profile.samples[0].segments[0].energy_unavailable", "why",
          samples__0__segments__0__energy_mj=None)
    check("profile.samples[0].segments[0].kind", "backbone, exit",
          samples__0__segments__0__kind="head")
    check("profile.samples[0].dvfs.gpu", "whole number", samples__0__dvfs={"gpu": 1.5})
    path.write_text("{not json")
    with raises_config_error("profile", "not valid JSON"):
        read_profile(path)


# --- metrics ---------------------------------------------------------------------------------

def test_fit_metrics():
    assert mape([100.0, 200.0], [110.0, 180.0]) == pytest.approx(10.0)
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert kendall_tau([1, 2, 3, 4, 5], [3, 4, 1, 2, 5]) == pytest.approx(0.2)
    assert kendall_tau([1, 1, 2, 3], [1, 2, 2, 3]) == pytest.approx(0.8)   # tau-b with ties
    x = np.random.default_rng(0).normal(size=300)
    assert kendall_tau(x, x + 1e-3, chunk=7) == pytest.approx(kendall_tau(x, x + 1e-3))


# --- calibration -----------------------------------------------------------------------------

def test_calibration_recovers_known_coefficients_and_says_what_one_clock_hides(space):
    """Known coefficients + 2 % noise at several clock settings are recovered; fitted to a
    single clock setting, the clock-scaled / fixed splits are reported as not identified."""
    base = get_platform("agx-xavier")
    true = dataclasses.replace(
        base.coefficients, efficiency={"conv": 0.22, "dwconv": 0.08, "pwconv": 0.55,
                                       "linear": 0.15},
        bandwidth_efficiency=0.45, launch_fixed_s=1.2e-5, launch_cpu_cycles=60000.0,
        invoke_s=2e-4, static_w=5.5, host_w=2.0,
        energy_pj_per_mac={"conv": 60.0, "dwconv": 400.0, "pwconv": 45.0, "linear": 200.0},
        energy_pj_per_byte=40.0, energy_mj_per_invoke=0.3)
    board = dataclasses.replace(base, coefficients=true)
    samples = model_samples(board, space)
    result = calibrate(base, Profile("agx-xavier", CIFAR100, 224, "t", {}, tuple(samples)),
                       space, train_fraction=0.5, seed=0)
    got, r = result.platform.coefficients, result.report
    print("recovered:", got)
    for kind in ("conv", "dwconv", "pwconv"):   # the linear layers are too small to identify
        assert got.efficiency[kind] == pytest.approx(true.efficiency[kind], rel=0.05), kind
    for name, rel in (("bandwidth_efficiency", 0.05), ("launch_cpu_cycles", 0.1),
                      ("launch_fixed_s", 0.25), ("invoke_s", 0.1), ("static_w", 0.1),
                      ("host_w", 0.25), ("energy_pj_per_byte", 0.15),
                      ("energy_mj_per_invoke", 0.25)):
        assert getattr(got, name) == pytest.approx(getattr(true, name), rel=rel), name
    for kind in ("dwconv", "pwconv"):
        assert got.energy_pj_per_mac[kind] == pytest.approx(true.energy_pj_per_mac[kind],
                                                            rel=0.1), kind
    assert "launch_cpu_cycles" in r["identified"] and "static_w" in r["identified"]
    test = r["latency"]["test"]
    assert test["model"]["mape"] < 3.0 < test["prior"]["mape"]
    assert test["model"]["kendall_tau"] > 0.97 and r["energy"]["test"]["model"]["kendall_tau"] > 0.97
    assert r["energy"]["test"]["model"]["mape"] < 3.0
    assert {"kernel_count", "macs"} <= set(test)        # the trivial rankers beside the model
    assert result.platform.provenance("latency") == result.platform.provenance("energy") \
        == "calibrated"
    assert not result.platform.physical_bounds()

    one_clock = model_samples_at(board, space, samples[0].dvfs)
    single = calibrate(base, Profile("agx-xavier", CIFAR100, 224, "t", {}, tuple(one_clock)),
                       space, train_fraction=0.5, seed=0).report
    print("one clock, not identified:", single["not_identified"])
    for name in ("launch_fixed_s", "launch_cpu_cycles", "static_w", "host_w"):
        assert "split not identified" in single["not_identified"][name], name
        assert name not in single["identified"]
    assert any(line.startswith("cpu scaling") for line in single["assumed"])
    assert single["latency"]["test"]["model"]["mape"] < 5.0   # the sum at that clock is fitted


def model_samples_at(truth, space, dvfs, n_dynns=48, seed=5) -> list[ProfileSample]:
    """Samples of the model with coefficients `truth`, all at one clock setting, 2 % noise."""
    rng = np.random.default_rng(seed)
    model = HardwareModel(truth, 224)
    out = []
    for backbone, sk, plan in dynns(space, n_dynns, seed):
        c = model.costs_at(sk, plan, **{f"{d}_hz": f for d, f in dvfs.items()}).point(0)
        lat, en = (rng.lognormal(0.0, 0.02, len(c.kinds)) for _ in range(2))
        out.append(ProfileSample(backbone.to_dict(), plan.to_dict(), dict(dvfs), tuple(
            SegmentSample(k, i, float(t * a), 0.01, float(e * b), None)
            for k, i, t, e, a, b in zip(c.kinds, c.indices, c.latency_ms, c.energy_mj, lat, en))))
    return out


def test_calibration_on_timings_from_another_law(tmp_path, space):
    profile_path = tmp_path / "nano-profile.json"
    write_profile(profile_path, "nano", CIFAR100, 224, other_law_samples(space))
    out = tmp_path / "nano-calibrated.yaml"
    report = api.calibrate_platform("nano", profile_path, out, train_fraction=0.5, seed=3)
    test = report["latency"]["test"]
    print("another law, held out:", test["model"], "prior:", test["prior"])
    assert test["model"]["kendall_tau"] > 0.9 and test["model"]["mape"] < test["prior"]["mape"]
    assert test["model"]["mape"] < 15.0
    assert report["energy"] is None
    calibrated = load_platform_file(out)
    assert calibrated.provenance("latency") == "calibrated"
    assert calibrated.provenance("energy") == "modelled"
    assert calibrated.coefficients.static_w == get_platform("nano").coefficients.static_w
    assert "# Calibrated from" in out.read_text()
    est = api.estimate_costs(CIFAR100, "a0", str(out), exits="5,9")
    assert est["provenance"] == {"latency_ms": "calibrated", "energy_mj": "modelled"}
    again = api.calibrate_platform("nano", profile_path, tmp_path / "again.yaml", 0.5, 3)
    assert again["coefficients_after"] == report["coefficients_after"]   # same seed, same fit


def test_calibration_errors(tmp_path, space):
    samples = model_samples(get_platform("nano"), space, n_dynns=2, points=1)
    wrong = dataclasses.replace(samples[0], segments=samples[0].segments * 2)
    path = tmp_path / "p.json"
    write_profile(path, "nano", CIFAR100, 224, [samples[1], wrong])
    with raises_config_error("profile.samples[1].segments", "expected"):
        api.calibrate_platform("nano", path, tmp_path / "o.yaml")
    write_profile(path, "nano", CIFAR100, 224, samples)
    with raises_config_error("platform", "measured on 'nano'"):
        api.calibrate_platform("tx2", path, tmp_path / "o.yaml")
    with raises_config_error("train_fraction", "(0, 1]"):
        api.calibrate_platform("nano", path, tmp_path / "o.yaml", train_fraction=0.0)


def test_cli_calibrate_prints_mape_and_tau(tmp_path, space, capsys):
    profile_path = tmp_path / "profile.json"
    write_profile(profile_path, "nano", CIFAR100, 224, other_law_samples(space, n_dynns=8))
    out = tmp_path / "cal.yaml"
    code = main(["hw", "calibrate", "--platform", "nano", "--profile", str(profile_path),
                 "--out", str(out), "--train-fraction", "0.5", "--seed", "0"])
    text = capsys.readouterr().out
    assert code == 0 and out.is_file()
    assert "latency test" in text and "MAPE" in text and "Kendall tau" in text
    assert "kernel_count" in text and "macs" in text and "Spearman rho" in text
    assert "not identified" in text
    code = main(["hw", "calibrate", "--platform", "nano", "--profile",
                 str(tmp_path / "missing.json"), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("hadas: error: --profile: file not found")
    assert Path(out).is_file()


# --- the shared Jetson per-layer measurements ------------------------------------------------

LUTS = Path(__file__).resolve().parents[1] / "data" / "jetson-layer-luts"
BOARDS = {"agx-xavier": "agx", "tx2": "tx2"}
# held-out targets of the hardware-model issue; where a bound or the data's noise keeps a board
# from one, the best honest figure is required instead (README "Hardware models" says why)
TARGETS = {"agx-xavier": {"latency": (15.0, 0.70), "energy": (15.0, 0.90)},
           "tx2": {"latency": (15.0, 0.68), "energy": (15.0, 0.85)}}


@pytest.mark.parametrize("board", BOARDS)
def test_lut_import_then_calibrate_from_the_command_line(board, tmp_path, capsys):
    files = sorted(str(p) for p in LUTS.glob(f"ofa_*_{BOARDS[board]}.json"))
    profile = tmp_path / "profile.json"
    assert main(["hw", "import-lut", *files, "--platform", board, "--out", str(profile)]) == 0
    prof = read_profile(profile)
    assert len(prof.samples) in (154, 155) and {s.kind for s in prof.samples} == {"operation"}
    out = tmp_path / "cal.yaml"
    assert main(["hw", "calibrate", "--platform", board, "--profile", str(profile),
                 "--out", str(out), "--seed", "0", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.splitlines()[-1])
    for quantity, (max_mape, min_tau) in TARGETS[board].items():
        test = report[quantity]["test"]
        print(board, quantity, "held out:", {k: (v["mape"], v["kendall_tau"], v["spearman_rho"])
                                             for k, v in test.items()})
        assert test["model"]["mape"] <= max_mape and test["model"]["kendall_tau"] >= min_tau
        assert test["model"]["mape"] < min(test["kernel_count"]["mape"], test["macs"]["mape"])
    calibrated = load_platform_file(out)
    assert not calibrated.physical_bounds()
    power = report["implied_power_w"]
    print(board, "implied power:", power)
    assert power["budget"] == calibrated.power_budget_w
    assert 0.0 < power["measured_max"] and 0.0 < power["train_max"] < 1.5 * power["measured_max"]
    assert "launch_cpu_cycles" in report["not_identified"]   # one clock setting in the LUTs


@pytest.mark.parametrize("board", BOARDS)
def test_shipped_calibrated_boards_reproduce_their_held_out_figures(board, capsys):
    name = f"{board}-calibrated"
    platform = get_platform(name)
    stored = platform.calibration["report"]
    profile = LUTS / f"{board}.profile.json"
    assert main(["hw", "check", "--platform", name, "--profile", str(profile), "--held-out",
                 "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    for quantity in ("latency", "energy"):
        assert got[quantity] == stored[quantity]["test"]["model"], quantity
        assert set(got[quantity]) >= {"mape", "kendall_tau", "spearman_rho", "n"}
    assert got["provenance"] == {"latency_ms": "calibrated", "energy_mj": "calibrated"}
    assert platform.calibration["profile_host"]["assumed"].startswith("activation")
    assert main(["hw", "check", "--platform", board, "--profile", str(profile)]) == 0
    assert "modelled latency" in capsys.readouterr().out     # the shipped prior, for comparison


def test_malformed_or_truncated_lut_is_one_line_and_exit_2(tmp_path, capsys):
    good = json.loads((LUTS / "ofa_memes_tx2.json").read_text())
    cases = {
        "truncated.json": (LUTS / "ofa_memes_tx2.json").read_text()[:500],
        "badkey.json": json.dumps({**good, "MBConvLayer-input:1_24_56_56-in_ch:24-kernel:3": {
            "lat": "1", "enrg": "1"}}),
        "badvalue.json": json.dumps({next(iter(good)): {"lat": "fast", "enrg": "1"}}),
        "mismatch.json": json.dumps({**good, "MBConvLayer-input:1_24_56_56-in_ch:24-out_ch:24-"
                                     "mid_ch:100-expand:6-kernel:3-stride:1-use_se:0": {
                                         "lat": "1", "enrg": "1"}}),
    }
    errors = {}
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        out = tmp_path / "never.json"
        code = main(["hw", "import-lut", str(path), "--platform", "tx2", "--out", str(out)])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, (name, err)
        assert err.startswith("hadas: error: lut: ") and not out.exists(), (name, err)
        errors[name] = err
    assert "is not valid JSON" in errors["truncated.json"]
    assert "'MBConvLayer-input:1_24_56_56-in_ch:24-kernel:3'" in errors["badkey.json"]
    assert "must be a number > 0" in errors["badvalue.json"]
    assert "mid_ch 100" in errors["mismatch.json"]
