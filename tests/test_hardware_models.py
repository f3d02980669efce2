"""Platforms, layer costs, the analytical latency/energy model and expected exit costs."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import CONFIGS, raises_config_error
from hadas.errors import ConfigError
from hadas.hardware import (DvfsSetting, HardwareModel, expected_costs, get_platform,
                            list_platforms, load_platform_file, segment_layer_costs)
from hadas.hardware.analytical import (dynamic_scale, energy_joules, energy_terms,
                                       energy_vector)
from hadas.hardware.expected import exit_prefix_costs
from hadas.hardware.local import cpu_table_hz, local_platform
from hadas.hardware.platform import platform_from_dict
from hadas.space import BackboneSpace, ExitPlan, exit_head_layers, resolve_arch

PLATFORMS = list_platforms()
JETSONS = [p for p in PLATFORMS if p != "local"]
PLATFORM_DIR = Path(__file__).resolve().parents[1] / "src" / "hadas" / "hardware" / "platforms"
RANGES_HZ = {"cpu": (1e7, 4e9), "gpu": (5e7, 2e9), "emc": (1e8, 4e9)}
NO_EXITS = ExitPlan(())


@pytest.fixture(scope="module")
def space(cifar100_cfg) -> BackboneSpace:
    return BackboneSpace(cifar100_cfg.supernet)


@pytest.fixture(scope="module")
def skeletons(space):
    return {name: space.skeleton(resolve_arch(space, name))
            for name in ("min", "a0", "a3", "a6", "max")}


# --- platforms -------------------------------------------------------------------------------

def test_registry_has_every_platform():
    assert set(PLATFORMS) == {p.stem for p in PLATFORM_DIR.glob("*.yaml")} | {"local"}
    assert {"agx-xavier", "agx-xavier-calibrated", "tx2", "tx2-calibrated"} <= set(PLATFORMS)


@pytest.mark.parametrize("name", PLATFORMS)
def test_platform_contract(name):
    p = get_platform(name)
    assert p.name == name and p.domains
    for domain, table in p.dvfs_hz.items():
        assert list(table) == sorted(set(table)), domain
        lo, hi = RANGES_HZ[domain]
        assert all(isinstance(f, int) and lo <= f <= hi for f in table), (domain, table)
    ref = DvfsSetting.reference(p)
    for domain in p.domains:
        assert ref[domain] in p.dvfs_hz[domain]
    for mode in p.power_modes:
        for domain in p.domains:
            assert p.max_hz(domain, mode.name) in p.dvfs_hz[domain]
        assert 0 < p.active_cores(mode.name) <= p.cores[p.compute_domain]
    expected = "calibrated" if p.calibration else "modelled"
    assert p.provenance("latency") == p.provenance("energy") == expected
    assert not p.physical_bounds()


@pytest.mark.parametrize("name", JETSONS)
def test_peaks_follow_from_cores_clocks_and_bus(name):
    """PLATFORMS.md §2: FP32 = 2 x cores x f_GPU, DRAM = f_EMC x 2 x bus bytes, at max clocks."""
    p = get_platform(name)
    fp32 = p.flops_per_core_cycle * p.cores["gpu"] * p.dvfs_hz["gpu"][-1] / 1e9
    dram = p.dvfs_hz["emc"][-1] * p.transfers_per_clock * p.bus_width_bits / 8 / 1e9
    assert fp32 == pytest.approx(p.peak_fp32_gflops, rel=0.01)
    assert dram == pytest.approx(p.peak_dram_gbs, rel=0.01)


@pytest.mark.parametrize("path", sorted(PLATFORM_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_number_in_a_platform_file_names_its_source(path):
    """Shipped files cite PLATFORMS.md; a calibrated one says in its header what it was fitted to
    and copies every other number from its base file."""
    text = path.read_text()
    if "\ncalibration:" in text:
        assert text.startswith("# Calibrated from ") and "Not identified" in text
        return
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^\s+[\w-]+:\s*[\[{\d]", line):   # a key with numbers (lists continue below)
            assert "#" in line or "#" in lines[i - 1], f"{path.name}:{i + 1}: {line.strip()}"


def test_unknown_platform_lists_the_names():
    with raises_config_error("platform", "jetson-tk1", "agx-xavier", "local"):
        get_platform("jetson-tk1")


def test_caps_snap_to_the_nearest_table_entry():
    """PLATFORMS.md §4: on a Nano in 5W mode, GPU cap 640 MHz ends at 614.4 MHz and CPU cap
    918000 kHz at 921600 kHz."""
    nano = get_platform("nano")
    assert nano.max_hz("gpu", "5W") == 614_400_000
    assert nano.max_hz("cpu", "5W") == 921_600_000
    xavier = get_platform("agx-xavier")
    assert DvfsSetting.reference(xavier).to_dict() == {
        "cpu": 2_265_600_000, "gpu": 1_377_000_000, "emc": 2_133_000_000}
    assert xavier.active_cores("MODE_10W") == 256


def test_dvfs_setting_validates_against_the_tables():
    p = get_platform("agx-xavier")
    s = DvfsSetting.parse(p, "gpu=1.377e9, emc=204000000")
    assert s["gpu"] == 1_377_000_000 and s["emc"] == 204_000_000 and s["cpu"] == 2_265_600_000
    assert DvfsSetting.create(p, s.to_dict()) == s and len(s.key) == 16
    with raises_config_error("dvfs.emc", "204000", "204000000"):
        DvfsSetting.create(p, {"emc": 204000})   # the HADAS kHz typo (PLATFORMS.md §3)
    with raises_config_error("dvfs", "'dla'", "cpu, gpu, emc"):
        DvfsSetting.parse(p, "dla=1395200000")
    with raises_config_error("dvfs.gpu", "not a number"):
        DvfsSetting.parse(p, "gpu=fast")


def test_platform_file_round_trip(tmp_path):
    p = get_platform("tx2")
    path = tmp_path / "tx2.yaml"
    path.write_text(yaml.safe_dump(p.to_dict()))
    again = load_platform_file(path)
    assert again == p and again.fingerprint == p.fingerprint


def test_invalid_platform_files_name_the_field():
    data = get_platform("nano").to_dict()
    data["dvfs_hz"]["gpu"] = list(reversed(data["dvfs_hz"]["gpu"]))
    with raises_config_error("platform.dvfs_hz.gpu", "sorted"):
        platform_from_dict(data)
    data = get_platform("nano").to_dict()
    data["coefficients"]["efficiency"]["conv"] = -1
    with raises_config_error("platform.coefficients.efficiency.conv", "must be in"):
        platform_from_dict(data)
    data = get_platform("nano").to_dict()
    data["default_mode"] = "TURBO"
    with raises_config_error("platform.default_mode", "MAXN, 5W"):
        platform_from_dict(data)


def test_local_cpu_table_from_cpufreq_in_khz(tmp_path):
    (tmp_path / "scaling_available_frequencies").write_text("2400000 1200000 800000\n")
    assert cpu_table_hz(tmp_path, tmp_path / "none") == (
        (800_000_000, 1_200_000_000, 2_400_000_000), "scaling_available_frequencies")
    (tmp_path / "scaling_available_frequencies").unlink()
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\ncpu MHz\t\t: 2999.998\n")
    assert cpu_table_hz(tmp_path, info) == ((2_999_998_000,), "/proc/cpuinfo")
    assert cpu_table_hz(tmp_path, tmp_path / "none")[1] == "assumed"


def test_local_platform_computes_on_the_cpu(tmp_path, skeletons):
    (tmp_path / "scaling_available_frequencies").write_text("800000 1600000 2400000")
    p = local_platform(tmp_path, tmp_path / "none")
    assert p.compute_domain == "cpu" and p.dvfs_hz["cpu"] == (800_000_000, 1_600_000_000,
                                                             2_400_000_000)
    costs = HardwareModel(p).costs_grid(skeletons["max"], NO_EXITS)
    latency = costs.total_latency_ms.reshape(_grid_shape(p))[:, 0]
    assert latency[0] / latency[-1] == pytest.approx(3.0, rel=0.05)   # compute and launch scale
    assert p.provenance("latency") == "modelled"


# --- layer costs -----------------------------------------------------------------------------

def test_layer_costs_add_up_to_the_skeleton(skeletons):
    sk = skeletons["a3"]
    (seg,) = segment_layer_costs(sk, NO_EXITS, 224)
    assert seg.macs == sk.macs and seg.params == sk.params
    plan = ExitPlan((5, 9))
    segs = segment_layer_costs(sk, plan, 224)
    heads = [layer for p in plan.positions for layer in exit_head_layers(sk, p, 224)]
    assert [s.kind for s in segs] == ["backbone", "exit", "backbone", "exit", "backbone"]
    assert sum(s.macs for s in segs) == sk.macs + sum(layer.macs for layer in heads)
    assert sum(s.bytes_moved for s in segs if s.kind == "backbone") == seg.bytes_moved
    assert sum(s.kernels for s in segs if s.kind == "backbone") == seg.kernels


def test_bytes_and_kernels_per_kind(skeletons):
    sk = skeletons["min"]
    (seg,) = segment_layer_costs(sk, NO_EXITS, 224)
    (half,) = segment_layer_costs(sk, NO_EXITS, 224, "fp16")
    assert half.bytes_moved * 2 == seg.bytes_moved and half.macs == seg.macs
    by_name = {c.name: c for c in seg.layers}
    stem = by_name["stem"]
    layer = sk.layers[0]
    assert stem.bytes_moved == 4 * (layer.params + 3 * layer.in_size ** 2
                                    + layer.out_channels * layer.out_size ** 2)
    n_se = sum(b.se for b in sk.blocks)
    pools = [c for c in seg.layers if c.kind == "pool"]
    assert len(pools) == n_se + 1   # one per squeeze-excite, one before head.mix
    adds = [c for c in seg.layers if c.name.endswith(".add")]
    assert len(adds) == sk.n_blocks and all(c.macs == 0 for c in adds)
    assert seg.kernels == len(sk.layers) + len(pools) + len(adds) + n_se + sum(
        b.stride > 1 for b in sk.blocks)


# --- the analytical model --------------------------------------------------------------------

def _grid_shape(p):
    return tuple(len(p.dvfs_hz[d]) for d in p.domains)


@pytest.mark.parametrize("name", PLATFORMS)
def test_latency_never_rises_when_a_clock_rises(name, skeletons):
    p = get_platform(name)
    model = HardwareModel(p)
    for arch in ("min", "max"):
        grid = model.costs_grid(skeletons[arch], ExitPlan((5, 12)))
        total = grid.total_latency_ms.reshape(_grid_shape(p))
        for axis in range(total.ndim):
            assert np.all(np.diff(total, axis=axis) <= 1e-12), (arch, p.domains[axis])
        assert np.all(grid.energy_mj > 0)


@pytest.mark.parametrize("name", PLATFORMS)
def test_costs_grow_with_flops(name, skeletons):
    model = HardwareModel(name)
    costs = {a: model.segment_costs(skeletons[a], NO_EXITS) for a in ("min", "a0", "a6", "max")}
    lat = [float(costs[a].total_latency_ms) for a in ("min", "a0", "a6", "max")]
    energy = [float(costs[a].total_energy_mj) for a in ("min", "a0", "a6", "max")]
    assert lat[0] <= lat[1] < lat[2] < lat[3]
    assert energy[0] <= energy[1] < energy[2] < energy[3]


@pytest.mark.parametrize("name", PLATFORMS)
def test_segments_add_up_to_the_network(name, skeletons):
    model = HardwareModel(name)
    sk = skeletons["a6"]
    whole = model.segment_costs(sk, NO_EXITS)
    assert whole.kinds == ("backbone",) and whole.latency_ms.shape == (1,)
    split = model.segment_costs(sk, ExitPlan((6, 10, 15)))
    backbone = np.array(split.kinds) == "backbone"
    c = model.coefficients    # every extra invocation pays its fixed costs once more
    extra = backbone.sum() - 1
    p_host = c.static_w + c.host_w * dynamic_scale(model.platform.reference_hz()["cpu"],
                                                   model.platform.dvfs_hz["cpu"][-1],
                                                   model.platform.voltage["cpu"])
    assert split.latency_ms[backbone].sum() == pytest.approx(
        whole.latency_ms[0] + extra * c.invoke_s * 1e3, rel=1e-12)
    assert split.energy_mj[backbone].sum() == pytest.approx(
        whole.energy_mj[0] + extra * (c.energy_mj_per_invoke + p_host * c.invoke_s * 1e3),
        rel=1e-12)
    assert float(split.total_latency_ms) > float(whole.total_latency_ms)
    assert split.to_dict()["total"]["latency_ms"] == pytest.approx(float(split.total_latency_ms))


@pytest.mark.parametrize("name", PLATFORMS)
def test_vectorised_equals_one_at_a_time(name, skeletons):
    p = get_platform(name)
    model = HardwareModel(p)
    sk, plan = skeletons["a3"], ExitPlan((5, 11))
    grid = model.costs_grid(sk, plan)
    assert grid.n_points == int(np.prod(_grid_shape(p)))
    rng = np.random.default_rng(0)
    for i in rng.choice(grid.n_points, size=min(12, grid.n_points), replace=False):
        freqs = {d: int(grid.freq_hz[d][i]) for d in p.domains}
        one = model.segment_costs(sk, plan, DvfsSetting.create(p, freqs))
        np.testing.assert_allclose(one.latency_ms, grid.latency_ms[:, i], rtol=1e-12)
        np.testing.assert_allclose(one.energy_mj, grid.energy_mj[:, i], rtol=1e-12)


@pytest.mark.parametrize("name", PLATFORMS)
def test_power_stays_within_the_model_bounds(name, skeletons):
    p = get_platform(name)
    c = p.coefficients
    costs = HardwareModel(p).costs_grid(skeletons["max"], NO_EXITS)
    power_w = costs.total_energy_mj / costs.total_latency_ms
    assert np.all(power_w >= c.static_w)
    assert np.all(power_w <= p.power_budget_w)


@pytest.mark.parametrize("name", PLATFORMS)
def test_direct_energy_equals_the_calibration_terms(name, skeletons):
    """The search's energy (`energy_joules`) is the calibration's design row times the vector."""
    model = HardwareModel(name)
    p, c = model.platform, model.coefficients
    table = model.table(skeletons["a3"], ExitPlan((5, 11)))
    freqs = {d: np.asarray(p.dvfs_hz[d][::3]) for d in p.domains}
    n = min(f.size for f in freqs.values())
    freqs = {d: f[:n] for d, f in freqs.items()}
    seconds = np.random.default_rng(0).uniform(1e-4, 1e-2, (len(table.starts), n))
    args = (p, freqs, seconds, table.kind_macs, table.segment_sum(table.bytes_moved),
            table.segment_sum(table.kernels))
    w = energy_vector(c, "fp32", p)
    np.testing.assert_allclose(energy_joules(*args, w), energy_terms(*args) @ w, rtol=1e-12)


def test_an_impossible_coefficient_is_refused_naming_it(tmp_path):
    data = get_platform("tx2").to_dict()
    data["coefficients"]["efficiency"]["dwconv"] = 3.0      # 300 % of the peak
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="efficiency.dwconv"):
        load_platform_file(path)
    data = get_platform("tx2").to_dict()
    data["coefficients"]["static_w"] = 40.0                  # over the 15 W board
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="budget"):
        load_platform_file(path)


def test_gated_cores_fp16_and_clock_errors(skeletons):
    sk = skeletons["max"]
    maxn = HardwareModel("agx-xavier")
    gated = HardwareModel("agx-xavier", mode="MODE_10W")
    clocks = dict(cpu_hz=1_190_400_000, gpu_hz=522_750_000, emc_hz=1_065_600_000)
    assert (gated.costs_at(sk, NO_EXITS, **clocks).total_latency_ms
            > maxn.costs_at(sk, NO_EXITS, **clocks).total_latency_ms)
    fp16 = HardwareModel("agx-xavier", precision="fp16").segment_costs(sk, NO_EXITS)
    assert fp16.total_latency_ms < maxn.segment_costs(sk, NO_EXITS).total_latency_ms
    with raises_config_error("dvfs.gpu", "1377000 Hz", "1377000000"):
        maxn.costs_at(sk, NO_EXITS, gpu_hz=[1_377_000_000, 1_377_000])
    with raises_config_error("dvfs", "local has no 'gpu' domain"):
        HardwareModel("local").costs_at(sk, NO_EXITS, gpu_hz=1_377_000_000)
    with raises_config_error("precision", "int8"):
        HardwareModel("nano", precision="int8").segment_costs(sk, NO_EXITS)


def test_calibrated_platforms_say_so(skeletons):
    data = get_platform("nano").to_dict()
    data["calibration"] = {"fitted": ["latency"]}
    costs = HardwareModel(platform_from_dict(data)).segment_costs(skeletons["min"], NO_EXITS)
    assert costs.provenance == {"latency_ms": "calibrated", "energy_mj": "modelled"}


def test_published_agx_xavier_magnitudes(skeletons):
    """HADAS.md §8 (motivational example, presumably AGX Xavier, clocks unknown): a0 173.8 mJ,
    a6 335.5 mJ per CIFAR-100 inference without exits. The assumed coefficients must land within
    a factor 10 and keep the a6/a0 ratio (1.93) within [1.3, 3]."""
    model = HardwareModel("agx-xavier")
    e0 = float(model.segment_costs(skeletons["a0"], NO_EXITS).total_energy_mj)
    e6 = float(model.segment_costs(skeletons["a6"], NO_EXITS).total_energy_mj)
    assert 17.4 < e0 < 1738 and 33.5 < e6 < 3355
    assert 1.3 < e6 / e0 < 3.0


def test_published_agx_orin_maxq_slowdown(skeletons):
    """PLATFORMS.md §7: MLPerf ResNet-50 MaxQ (CPU 576 MHz, GPU 624.75 MHz, EMC 2133 MHz) is 2.35x
    slower than MaxP. Our JetPack 6 table's nearest GPU clock is 612 MHz; a compute-heavy network
    must slow down by a similar factor (between the GPU ratio 2.1 and the CPU ratio 3.8)."""
    model = HardwareModel("agx-orin", mode="MAXN")
    maxp = model.segment_costs(skeletons["max"], NO_EXITS).total_latency_ms
    maxq = model.costs_at(skeletons["max"], NO_EXITS, cpu_hz=576_000_000, gpu_hz=612_000_000,
                          emc_hz=2_133_000_000).total_latency_ms[0]
    assert 1.5 < float(maxq / maxp) < 3.5


# --- expected costs --------------------------------------------------------------------------

def test_expected_costs_follow_the_exit_rates(skeletons):
    model = HardwareModel("agx-xavier")
    costs = model.segment_costs(skeletons["a0"], ExitPlan((5, 9)))
    lat, en = costs.latency_ms, costs.energy_mj   # b0 e0 b1 e1 b2
    assert expected_costs(costs, [1, 0, 0])[0] == pytest.approx(lat[0] + lat[1])
    assert expected_costs(costs, [0, 1, 0])[1] == pytest.approx(en[:4].sum())
    assert expected_costs(costs, [0, 0, 1])[0] == pytest.approx(float(costs.total_latency_ms))
    mixed = expected_costs(costs, [0.5, 0.25, 0.25])[0]
    assert mixed == pytest.approx(0.5 * (lat[0] + lat[1]) + 0.25 * lat[:4].sum()
                                  + 0.25 * lat.sum())
    none = model.segment_costs(skeletons["a0"], NO_EXITS)
    assert expected_costs(none, [1.0])[0] == pytest.approx(float(none.total_latency_ms))
    with raises_config_error("exit_rates", "one rate per exit (3"):
        expected_costs(costs, [0.5, 0.5])
    with raises_config_error("exit_rates", "sum to 1"):
        expected_costs(costs, [0.5, 0.2, 0.2])


def test_expected_costs_vectorised_over_dvfs_points(skeletons):
    model = HardwareModel("nano")
    plan = ExitPlan((5, 8, 12))
    grid = model.costs_grid(skeletons["a6"], plan)
    rates = np.array([0.4, 0.3, 0.2, 0.1])
    lat, en = expected_costs(grid, rates)
    assert lat.shape == en.shape == (grid.n_points,)
    for i in (0, grid.n_points // 2, grid.n_points - 1):
        one_lat, one_en = expected_costs(grid.point(i), rates)
        assert lat[i] == pytest.approx(float(one_lat)) and en[i] == pytest.approx(float(one_en))
    prefix_lat, _ = exit_prefix_costs(grid)
    assert np.all(np.diff(prefix_lat, axis=0) > 0)   # leaving later always costs more
    per_point = np.repeat(rates[:, None], grid.n_points, axis=1)
    np.testing.assert_allclose(expected_costs(grid, per_point)[0], lat)


def test_unknown_mode_is_a_config_error():
    with pytest.raises(ConfigError, match="MODE_99W"):
        HardwareModel("agx-xavier", mode="MODE_99W")


# --- command line ----------------------------------------------------------------------------

def _run(capsys, *argv: str) -> tuple[int, str, str]:
    from hadas.cli.main import main
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_platforms(capsys):
    code, out, _ = _run(capsys, "platforms", "list", "--json")
    assert code == 0 and [r["name"] for r in json.loads(out)] == PLATFORMS
    code, out, _ = _run(capsys, "platforms", "show", "agx-xavier", "--json")
    info = json.loads(out)
    assert code == 0 and info["dvfs_hz"]["gpu"][-1] == 1_377_000_000
    assert info["provenance"] == {"latency_ms": "modelled", "energy_mj": "modelled"}
    code, _, err = _run(capsys, "platforms", "show", "jetson-tk1")
    assert code == 2 and err.startswith("hadas: error: platform: unknown platform")


def test_cli_estimate(capsys):
    config = str(CONFIGS / "hadas-cifar100.yaml")
    code, out, _ = _run(capsys, "hw", "estimate", "--platform", "agx-xavier", "--config", config,
                        "--arch", "a0", "--exits", "5,9", "--dvfs", "gpu=522750000,emc=1.6e9",
                        "--json")
    r = json.loads(out)
    assert code == 0 and [s["kind"] for s in r["segments"]] == ["backbone", "exit", "backbone",
                                                                "exit", "backbone"]
    assert r["dvfs_hz"] == {"cpu": 2_265_600_000, "gpu": 522_750_000, "emc": 1_600_000_000}
    assert r["total"]["latency_ms"] == pytest.approx(sum(s["latency_ms"] for s in r["segments"]))
    assert r["provenance"]["latency_ms"] == "modelled" and r["exit_channels"] == 224
    code, out, _ = _run(capsys, "hw", "estimate", "--config", config, "--arch", "max")
    assert code == 0 and "total" in out and "agx-xavier-calibrated" in out and "calibrated" in out
    for args, field in ((("--dvfs", "gpu=1377000"), "dvfs.gpu"),
                        (("--exits", "2"), "exits.positions"), (("--exits", "five"), "--exits"),
                        (("--platform", "tk1"), "--platform")):
        code, out, err = _run(capsys, "hw", "estimate", "--config", config, "--arch", "a0", *args)
        assert code == 2 and out == "" and err.startswith(f"hadas: error: {field}: "), err
        assert len(err.strip().splitlines()) == 1


def test_max_clocks_are_not_the_energy_optimum(skeletons):
    """Pagoda (PLATFORMS.md §7): MAXN is not the most energy-efficient mode; HADAS.md §8: DVFS on
    top of exits saved 3-33 % energy. The model's best point must save a moderate share."""
    model = HardwareModel("agx-xavier")
    grid = model.costs_grid(skeletons["a6"], NO_EXITS)
    at_max = float(model.segment_costs(skeletons["a6"], NO_EXITS).total_energy_mj)
    saving = 1 - grid.total_energy_mj.min() / at_max
    assert 0.01 < saving < 0.4


@settings(max_examples=40, deadline=None)
@given(weights=st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4).filter(
    lambda w: sum(w) > 1e-3))
def test_expected_costs_lie_between_the_earliest_and_the_latest_exit(skeletons, weights):
    costs = HardwareModel("tx2").segment_costs(skeletons["a0"], ExitPlan((5, 9, 13)))
    rates = np.array(weights) / sum(weights)
    lat, en = expected_costs(costs, rates)
    prefix_lat, prefix_en = exit_prefix_costs(costs)
    assert prefix_lat[0] - 1e-9 <= lat <= prefix_lat[-1] + 1e-9
    assert prefix_en[0] - 1e-9 <= en <= prefix_en[-1] + 1e-9
    assert lat == pytest.approx(float(rates @ prefix_lat))
