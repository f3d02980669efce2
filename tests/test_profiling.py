"""`hadas profile`: sampled DyNNs measured segment by segment into a resumable profile file."""
from __future__ import annotations

import json

import numpy as np
import pytest

from hadas.api import board, profiling
from hadas.hardware.profile_plan import sample_dvfs_points
from hadas.cli.main import main
from hadas.errors import ConfigError
from hadas.hardware.dvfs import DvfsControl
from hadas.hardware.profile_format import read_profile
from hadas.hardware.registry import get_platform
from hadas.space import BackboneSpace, ExitPlan, candidate_positions, segments
from conftest import CONFIGS
from test_dvfs import GPU, FakeKernelIO, make_agx_xavier, snapshot
from test_measure import make_xavier_ina

TINY = str(CONFIGS / "tiny-digits.yaml")
FAST = dict(repeats=2, warmup=0, device="cpu", progress=False)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_local_profile_has_min_max_and_segments_in_order(tmp_path, tiny_cfg):
    out = tmp_path / "profile.json"
    run = profiling.profile(TINY, "local", n_archs=3, dvfs_points=2, out=out, **FAST)
    assert (run.measured, run.skipped, run.planned) == (3, 0, 3)  # local: one point, clocks alone
    assert "clocks left alone" in run.dvfs_note
    prof = read_profile(out)  # the reader of the format validates every field
    assert prof.platform == "local" and prof.exit_channels == tiny_cfg.exits.exit_channels
    space = BackboneSpace(tiny_cfg.supernet)
    archs = [s.arch for s in prof.samples]
    assert archs[0] == space.smallest().to_dict() and archs[1] == space.largest().to_dict()
    for s in prof.samples:
        plan = ExitPlan.from_dict(s.exits)
        backbone = space.validate(type(space.smallest()).from_dict(s.arch))
        cands = candidate_positions(backbone.n_blocks, tiny_cfg.exits.first_exit_block)
        assert plan.positions and set(plan.positions) <= set(cands)
        expected = segments(space.skeleton(backbone), plan, prof.exit_channels)
        assert [(g.kind, g.index) for g in s.segments] == [(e.kind, e.index) for e in expected]
        assert s.dvfs == {} and all(g.latency_ms > 0 for g in s.segments)
        assert all(g.energy_mj is None and g.energy_unavailable for g in s.segments)


def test_rerun_skips_what_is_there_and_extends_the_same_plan(tmp_path):
    out = tmp_path / "p.json"
    profiling.profile(TINY, "local", n_archs=2, dvfs_points=1, out=out, **FAST)
    first = read_profile(out).samples
    again = profiling.profile(TINY, "local", n_archs=2, dvfs_points=1, out=out, **FAST)
    assert (again.measured, again.skipped) == (0, 2)
    more = profiling.profile(TINY, "local", n_archs=3, dvfs_points=1, out=out, **FAST)
    assert (more.measured, more.skipped) == (1, 2)
    assert read_profile(out).samples[:2] == first


def test_interrupted_run_keeps_finished_samples_and_resumes(tmp_path, monkeypatch):
    out = tmp_path / "p.json"
    real = board.BoardMeasurer.measure
    calls = []

    def flaky(self, *args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, *args, **kw)

    monkeypatch.setattr(board.BoardMeasurer, "measure", flaky)
    with pytest.raises(KeyboardInterrupt):
        profiling.profile(TINY, "local", n_archs=3, dvfs_points=1, out=out, **FAST)
    assert len(read_profile(out).samples) == 1
    monkeypatch.setattr(board.BoardMeasurer, "measure", real)
    run = profiling.profile(TINY, "local", n_archs=3, dvfs_points=1, out=out, **FAST)
    assert (run.measured, run.skipped) == (2, 1)


def test_profile_of_another_setup_is_not_mixed_in(tmp_path):
    out = tmp_path / "p.json"
    profiling.profile(TINY, "local", n_archs=1, dvfs_points=1, out=out, **FAST)
    with pytest.raises(ConfigError, match="^out: "):
        profiling.profile(TINY, "local", n_archs=1, dvfs_points=1, out=out, exit_channels=8, **FAST)


def test_jetson_profile_pins_each_point_measures_energy_and_restores(tmp_path):
    root = make_xavier_ina(make_agx_xavier(tmp_path / "root"))
    before = snapshot(root)
    dvfs = DvfsControl(io=FakeKernelIO(root, log=lambda s: None), settle_s=0.2)
    out = tmp_path / "xavier.json"
    run = profiling.profile(TINY, "agx-xavier", n_archs=2, dvfs_points=2, out=out, sysfs_root=root,
                        energy_window_s=0.02, dvfs=dvfs, **FAST)
    assert (run.measured, run.planned) == (4, 4) and run.energy_unavailable is None
    prof = read_profile(out)
    assert prof.host["energy_sensor"] == "ina3221: GPU+CPU+SOC+CV+VDDRQ+SYS5V"  # the boundary
    samples = prof.samples
    xavier = get_platform("agx-xavier")
    assert samples[0].dvfs == {d: xavier.dvfs_hz[d][-1] for d in ("cpu", "gpu", "emc")}
    assert len({json.dumps(s.dvfs, sort_keys=True) for s in samples}) == 2
    for s in samples:
        assert all(s.dvfs[d] in xavier.dvfs_hz[d] for d in s.dvfs)
        assert all(g.energy_mj and g.energy_mj > 0 for g in s.segments)
    after = snapshot(root)
    assert after[f"{GPU}/min_freq"] == before[f"{GPU}/min_freq"]
    assert after[f"{GPU}/max_freq"] == before[f"{GPU}/max_freq"]


def test_dvfs_points_start_at_max_and_are_distinct():
    tables = {d: t for d, t in get_platform("agx-xavier").dvfs_hz.items()}
    points = sample_dvfs_points(tables, 5, np.random.default_rng(0))
    assert points[0] == {d: t[-1] for d, t in tables.items()} and len(points) == 5
    assert len({tuple(sorted(p.items())) for p in points}) == 5
    assert sample_dvfs_points({}, 5, np.random.default_rng(0)) == [{}]
    assert len(sample_dvfs_points({"gpu": (1, 2)}, 5, np.random.default_rng(0))) == 2


def test_cli_profile_and_dvfs_dry_run(tmp_path, capsys):
    out = tmp_path / "cli.json"
    assert main(["profile", "--config", TINY, "--archs", "1", "--out", str(out), "--repeats", "2",
                 "--device", "cpu", "--quiet"]) == 0
    assert "1 samples measured" in capsys.readouterr().out
    assert len(read_profile(out).samples) == 1
    root = make_agx_xavier(tmp_path / "root")
    before = snapshot(root)
    assert main(["dvfs", "--set", "gpu=6.2475e8", "--dry-run", "--sysfs-root", str(root)]) == 0
    printed = capsys.readouterr().out
    assert "echo 624750000 >" in printed and "dry-run: would pin gpu=624750000" in printed
    assert snapshot(root) == before
    assert main(["dvfs", "--set", "gpu=5e8", "--dry-run", "--sysfs-root", str(root)]) == 2
    assert "dvfs.gpu: 500000000 Hz is not an available frequency" in capsys.readouterr().err
