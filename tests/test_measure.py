"""Measurement backends: CPU latency, INA3221 / RAPL / NVML energy against fake sensors, reasons."""
from __future__ import annotations

import sys
import time
import types
from pathlib import Path

import pytest
import torch
from torch import nn

from hadas.hardware.measure import (PowerSampler, RaplCounter, Unavailable, energy_source, find_rails,
                                    measure_segments, open_energy_counter, open_ina3221, open_nvml,
                                    open_rapl, time_module)
from hadas.hardware.measure.latency import summarize


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Sleep(nn.Module):
    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(self.seconds)
        return x


def _put(root: Path, rel: str, value: object) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{value}\n")


def test_cpu_latency_is_in_milliseconds_and_labelled_measured():
    stats = time_module(Sleep(0.002), torch.zeros(1), repeats=5, warmup=1)
    assert 2.0 <= stats.latency_ms < 50.0
    assert stats.latency_ms_spread >= 0.0 and stats.repeats == 5
    assert stats.device == "cpu" and stats.provenance == "measured"


def test_small_conv_module_latency():
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
    stats = time_module(net, torch.randn(1, 3, 16, 16), repeats=5, warmup=2)
    assert 0.0 < stats.latency_ms < 100.0


def test_median_and_interquartile_spread():
    stats = summarize([1.0, 2.0, 3.0, 4.0, 100.0], "cpu")
    assert stats.latency_ms == 3.0 and stats.latency_ms_spread == 2.0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_latency_with_events():
    net = nn.Conv2d(3, 16, 3).cuda()
    stats = time_module(net, torch.randn(1, 3, 64, 64, device="cuda"), repeats=10, warmup=3)
    assert stats.device.startswith("cuda") and 0.0 < stats.latency_ms < 100.0


def make_xavier_ina(root: Path, gpu_ma: int = 1000) -> Path:
    """AGX Xavier, JetPack 4 iio driver: 0x40 GPU/CPU/SOC, 0x41 CV/VDDRQ/SYS5V, all at 19 V."""
    for addr, dev, labels in (("1-0040", 0, ("GPU", "CPU", "SOC")), ("1-0041", 1, ("CV", "VDDRQ", "SYS5V"))):
        base = f"sys/bus/i2c/drivers/ina3221x/{addr}/iio:device{dev}"
        for ch, label in enumerate(labels):
            _put(root, f"{base}/rail_name_{ch}", label)
            _put(root, f"{base}/in_voltage{ch}_input", 19000)
            _put(root, f"{base}/in_current{ch}_input", gpu_ma if label == "GPU" else 100)
            _put(root, f"{base}/in_power{ch}_input", 19 * (gpu_ma if label == "GPU" else 100))
    return root


def make_orin_nano_ina(root: Path) -> Path:
    """Orin Nano, JetPack 5 hwmon driver: in1 VDD_IN, in2 VDD_CPU_GPU_CV, in3 VDD_SOC."""
    base = "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3"
    for n, (label, mv, ma) in enumerate((("VDD_IN", 5000, 1200), ("VDD_CPU_GPU_CV", 5000, 400),
                                         ("VDD_SOC", 5000, 300)), start=1):
        _put(root, f"{base}/in{n}_label", label)
        _put(root, f"{base}/in{n}_input", mv)
        _put(root, f"{base}/curr{n}_input", ma)
    return root


def test_xavier_rails_are_summed_without_an_input_rail(tmp_path):
    root = make_xavier_ina(tmp_path)
    assert [r.label for r in find_rails(root)] == ["GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V"]
    counter = open_ina3221(root)
    try:
        assert counter.source == "ina3221: GPU+CPU+SOC+CV+VDDRQ+SYS5V"
        assert counter.read_power_mw() == pytest.approx(19.0 * (1000 + 5 * 100))
    finally:
        counter.close()


def test_input_rail_alone_is_the_total_on_hwmon_boards(tmp_path):
    counter = open_ina3221(make_orin_nano_ina(tmp_path))
    try:
        assert counter.source == "ina3221: VDD_IN" and counter.read_power_mw() == 6000.0
    finally:
        counter.close()


def test_sampler_integrates_a_known_constant_power_over_a_known_time(tmp_path):
    counter = open_ina3221(make_orin_nano_ina(tmp_path), interval_s=0.002)
    try:
        t0 = time.monotonic()
        e0 = counter.read_mj()
        time.sleep(0.3)
        e1 = counter.read_mj()
        elapsed = time.monotonic() - t0
    finally:
        counter.close()
    assert counter.n_samples > 20  # the thread really sampled in between
    assert (e1 - e0) == pytest.approx(6000.0 * elapsed, rel=0.03)  # 6 W over ~0.3 s = ~1800 mJ


def test_sampler_follows_a_power_step():
    power = [1000.0]
    sampler = PowerSampler(lambda: power[0], interval_s=0.002)
    try:
        time.sleep(0.15)
        e_mid = sampler.read_mj()
        power[0] = 3000.0
        time.sleep(0.15)
        e_end = sampler.read_mj()
    finally:
        sampler.close()
    assert (e_end - e_mid) / e_mid == pytest.approx(3.0, rel=0.15)


def make_rapl(root: Path, energy_uj: int, max_uj: int = 262143328850) -> Path:
    zone = root / "sys/class/powercap/intel-rapl:0"
    _put(root, "sys/class/powercap/intel-rapl:0/name", "package-0")
    _put(root, "sys/class/powercap/intel-rapl:0/max_energy_range_uj", max_uj)
    _put(root, "sys/class/powercap/intel-rapl:0/energy_uj", energy_uj)
    _put(root, "sys/class/powercap/intel-rapl:0:0/energy_uj", 5)  # sub-zone: not counted again
    return zone


def test_rapl_counts_across_wraparound(tmp_path):
    zone = make_rapl(tmp_path, energy_uj=1_000_000_000 - 300_000, max_uj=1_000_000_000)
    counter = open_rapl(tmp_path)
    assert isinstance(counter, RaplCounter) and counter.source == "rapl: package-0"
    (zone / "energy_uj").write_text("200000\n")  # wrapped: 300000 to the top, then 200000
    assert counter.read_mj() == pytest.approx(500.0)
    (zone / "energy_uj").write_text("1200000\n")
    assert counter.read_mj() == pytest.approx(1500.0)


def test_fake_nvml_counter_reads_energy_since_opening(monkeypatch):
    state = {"mj": 10_000}
    fake = types.SimpleNamespace(
        nvmlInit=lambda: None, nvmlShutdown=lambda: None,
        nvmlDeviceGetHandleByIndex=lambda i: f"h{i}", nvmlDeviceGetName=lambda h: b"Fake H100",
        nvmlDeviceGetTotalEnergyConsumption=lambda h: state["mj"])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    counter = open_nvml(0)
    assert counter.source == "nvml: GPU 0 (Fake H100)" and counter.min_window_s >= 1.0
    state["mj"] += 7500
    assert counter.read_mj() == 7500.0


def test_nvml_without_pynvml_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    result = open_nvml()
    assert isinstance(result, Unavailable) and "pynvml is not installed" in result.reason


def test_no_sensor_gives_every_reason_not_a_number(tmp_path):
    result = open_energy_counter("cpu", root=tmp_path)
    assert isinstance(result, Unavailable)
    assert "ina3221: no power rails" in result.reason and "rapl: no package zone" in result.reason


def test_this_machine_reports_energy_or_why_not():
    result = open_energy_counter("cpu")
    if not isinstance(result, Unavailable):
        result.close()
        pytest.skip(f"this machine has a readable sensor: {result.source}")
    assert result.reason.startswith("ina3221: ") and "; rapl: " in result.reason


def test_segments_chain_inputs_and_carry_energy_or_reason(tmp_path):
    seen = []

    class Probe(nn.Module):
        def __init__(self, scale: float):
            super().__init__()
            self.scale = scale

        def forward(self, x):
            seen.append(float(x.flatten()[0]))
            return x * self.scale

    segs = [("backbone", 0, Probe(2.0)), ("exit", 0, Probe(1.0)), ("backbone", 1, Probe(3.0))]
    root = make_orin_nano_ina(tmp_path)
    rows = measure_segments(segs, torch.ones(1), energy_source("cpu", root), repeats=2, warmup=0,
                            window_s=0.05)
    assert set(seen[:3]) == {1.0, 2.0}  # exit and second backbone segment both see 2x the input
    assert [(r.kind, r.index) for r in rows] == [("backbone", 0), ("exit", 0), ("backbone", 1)]
    for r in rows:  # 6 W x the segment's run time (a few microseconds each) -> tiny but positive
        assert r.energy_mj is not None and 0 < r.energy_mj < 6000.0 * 0.05 and r.energy_unavailable is None
    rows = measure_segments(segs, torch.ones(1), Unavailable("rapl: none"), repeats=2, warmup=0)
    assert all(r.energy_mj is None and r.energy_unavailable == "rapl: none" for r in rows)
    assert rows[0].to_dict()["provenance"] == "measured"
