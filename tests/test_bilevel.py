"""The bi-level driver on synthetic evaluators: archive, determinism, crash-safe replay."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hadas.config import ConstraintsConfig
from hadas.space import BackboneSpace, ExitPlan
from hadas.space.dynn import ArchiveEntry, DynnResult, objective_matrix
from hadas.executors import EXECUTORS, create_executor
from hadas.search.bilevel import BilevelSearch
from hadas.search.modes import SEARCH_MODES
from hadas.search.constraints import violation
from hadas.report.compare import energy_gain
from hadas.storage import RunDatabase, RunDatabaseError
from conftest import WITHOUT_TORCH
from synthetic import Synthetic

def _run(tiny_cfg, run_dir, evaluators, seed: int = 0):
    cfg = dataclasses.replace(tiny_cfg, seed=seed)
    with RunDatabase(run_dir) as db:
        db.open_run("hadas", cfg.fingerprint, cfg.seed, {})
        return BilevelSearch(cfg, evaluators, db, "hadas", say=lambda s: None).run_hadas()


def test_archive_is_non_dominated_and_hypervolume_never_falls(tiny_cfg, tmp_path):
    result = _run(tiny_cfg, tmp_path, Synthetic())
    F = objective_matrix(result.archive)
    for i, f in enumerate(F):
        assert not any(np.all(g <= f) and np.any(g < f) for g in F)
    assert all(b >= a - 1e-12 for a, b in zip(result.hypervolume, result.hypervolume[1:]))
    assert len(result.hypervolume) == tiny_cfg.search.ooe.generations


def test_same_seed_same_archive_and_a_rerun_computes_nothing(tiny_cfg, tmp_path):
    first = _run(tiny_cfg, tmp_path / "a", Synthetic())
    other = _run(tiny_cfg, tmp_path / "b", Synthetic())
    assert other.archive == first.archive
    again = Synthetic()
    replay = _run(tiny_cfg, tmp_path / "a", again)
    assert replay.archive == first.archive and again.calls == {"backbone": 0, "ioe": 0}
    assert _run(tiny_cfg, tmp_path / "c", Synthetic(), seed=1).archive != first.archive


@pytest.mark.parametrize("fail_after", [3, 17, 40])
def test_a_crashed_search_resumes_to_the_same_result_without_recomputing(tiny_cfg, tmp_path,
                                                                         fail_after):
    reference = _run(tiny_cfg, tmp_path / "straight", Synthetic())
    crashing = Synthetic(fail_after=fail_after)
    with pytest.raises(KeyboardInterrupt):
        _run(tiny_cfg, tmp_path / "run", crashing)
    done_before = dict(crashing.calls)
    resumed = Synthetic()
    result = _run(tiny_cfg, tmp_path / "run", resumed)
    assert result.archive == reference.archive
    total = Synthetic()
    _run(tiny_cfg, tmp_path / "count", total)
    # the finished evaluations were not repeated: before + after = one uninterrupted run
    # (the evaluation in flight when it crashed is the only one done twice)
    repeated = sum(done_before.values()) + sum(resumed.calls.values()) - sum(total.calls.values())
    assert repeated == 1


def test_a_run_directory_of_another_config_is_refused(tiny_cfg, tmp_path):
    _run(tiny_cfg, tmp_path, Synthetic())
    with pytest.raises(RunDatabaseError, match="another config or seed"):
        _run(dataclasses.replace(tiny_cfg, name="other"), tmp_path, Synthetic())


def _mode(tiny_cfg, run_dir, mode: str):
    """A registered mode on synthetic evaluators (a mode that takes backbones gets two)."""
    with RunDatabase(run_dir) as db:
        db.open_run(mode, tiny_cfg.fingerprint, tiny_cfg.seed, {})
        engine = BilevelSearch(tiny_cfg, Synthetic(), db, mode, say=lambda s: None)
        search_mode = SEARCH_MODES.get(mode)
        given = ([engine.space.largest(), engine.space.smallest()]
                 if search_mode.takes_backbones else [])
        return search_mode.start(engine, given)


@pytest.mark.parametrize("mode", SEARCH_MODES.names())  # every registered mode
def test_every_mode_keeps_to_what_its_inner_engine_may_change(tiny_cfg, tmp_path, mode):
    reference = Synthetic.reference_dvfs
    inner = SEARCH_MODES.get(mode).inner
    archive = _mode(tiny_cfg, tmp_path / mode, mode).archive
    assert archive, mode
    dynns = [e.dynn for e in archive]
    if inner in (None, "dvfs"):
        assert all(d.plan.positions == () for d in dynns), mode
    if inner in (None, "exits"):
        assert all(d.dvfs_hz == reference for d in dynns), mode


def test_the_paper_mode_finds_exits_and_clocks(tiny_cfg, tmp_path):
    hadas = _mode(tiny_cfg, tmp_path / "hadas", "hadas").archive
    static = _mode(tiny_cfg, tmp_path / "static", "static").archive
    assert any(e.dynn.plan.positions for e in hadas)
    # exact DVFS: the synthetic energy does not depend on the GPU clock, so the least CPU clock
    # is optimal for every DyNN: hadas leaves the reference clocks
    assert all(e.dynn.dvfs_hz != Synthetic.reference_dvfs for e in hadas)
    gain = energy_gain(hadas, static)
    assert gain.matched + gain.unmatched == len(static)


def test_energy_gain_at_equal_accuracy(tiny_cfg):
    def entry(top1, energy):
        dynn = DynnResult(ExitPlan(()), {}, top1, 1.0, energy, (1.0,), (top1,))
        return ArchiveEntry(BackboneSpace(tiny_cfg.supernet).smallest(), dynn, 0)

    ours = [entry(90, 50), entry(95, 80)]
    baseline = [entry(89, 100), entry(94, 100), entry(99, 10)]
    gain = energy_gain(ours, baseline)
    assert (gain.matched, gain.unmatched) == (2, 1)
    assert gain.max_pct == pytest.approx(50.0) and gain.mean_pct == pytest.approx(35.0)
    assert energy_gain([], baseline).max_pct is None


def build_synthetic() -> Synthetic:
    """Picklable factory: every worker builds its own evaluators."""
    return Synthetic()


def _with_executor(tiny_cfg, run_dir, executor):
    with RunDatabase(run_dir) as db:
        db.open_run("hadas", tiny_cfg.fingerprint, tiny_cfg.seed, {})
        search = BilevelSearch(tiny_cfg, Synthetic(), db, "hadas", lambda s: None, executor)
        try:
            return search.run_hadas()
        finally:
            executor.close()


@pytest.fixture
def local_ray():
    """A local Ray on 2 CPUs whose workers can import this test module."""
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'hadas[ray]'")
    tests = str(Path(__file__).parent)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": tests}})
    yield
    ray.shutdown()


@pytest.mark.parametrize("name", EXECUTORS.names())  # every registered executor
def test_every_executor_gives_the_serial_result(tiny_cfg, tmp_path, name, request):
    if name == "ray":  # needs a cluster that can import this module
        request.getfixturevalue("local_ray")
    serial = _run(tiny_cfg, tmp_path / "serial", Synthetic())
    other = _with_executor(tiny_cfg, tmp_path / f"with-{name}",
                           create_executor(name, build_synthetic, workers=2))
    assert other.archive == serial.archive
    assert other.hypervolume == serial.hypervolume
    assert other.stats.computed == serial.stats.computed


def test_constraints_keep_infeasible_dynns_out_of_the_archive(tiny_cfg, tmp_path):
    free = _run(tiny_cfg, tmp_path / "free", Synthetic())
    assert min(e.dynn.top1 for e in free.archive) < 96.0  # the limit below binds
    limited_cfg = dataclasses.replace(tiny_cfg, search=dataclasses.replace(
        tiny_cfg.search, constraints=ConstraintsConfig(min_top1=96.0, max_latency_ms=100.0)))
    limited = _run(limited_cfg, tmp_path / "limited", Synthetic())
    assert limited.archive
    assert all(e.dynn.top1 >= 96.0 and e.dynn.latency_ms <= 100.0
               for e in limited.archive)
    impossible_cfg = dataclasses.replace(tiny_cfg, search=dataclasses.replace(
        tiny_cfg.search, constraints=ConstraintsConfig(max_latency_ms=1e-9)))
    impossible = _run(impossible_cfg, tmp_path / "impossible", Synthetic())
    assert impossible.archive == [] and impossible.hypervolume[-1] == 0.0


def test_violation_is_relative_and_zero_when_feasible():
    limits = ConstraintsConfig(max_latency_ms=10.0, max_energy_mj=None, min_top1=90.0)
    F = np.array([[5.0, 10.0, 1.0], [20.0, 15.0, 1.0]])
    assert violation(F, limits).tolist() == pytest.approx([0.0, 0.1 + 0.5])


def device_of_worker(device: str = "none") -> str:
    return device


def worker_state(state: str, item: int) -> str:
    return state


def test_process_workers_get_one_device_each():
    from hadas.executors import ProcessExecutor
    executor = ProcessExecutor(device_of_worker, devices=["dev:0", "dev:1"])
    try:
        seen = {state for _, state in executor.imap(worker_state, list(range(40)))}
    finally:
        executor.close()
    assert seen <= {"dev:0", "dev:1"} and seen
    with pytest.raises(Exception, match="one worker per device"):
        ProcessExecutor(device_of_worker, workers=3, devices=["dev:0"])


def test_progress_counts_what_the_search_spent_and_replays_the_same(tiny_cfg, tmp_path):
    result = _run(tiny_cfg, tmp_path, Synthetic())
    p = result.progress
    assert [g["generation"] for g in p] == list(range(tiny_cfg.search.ooe.generations))
    assert [g["hypervolume"] for g in p] == result.hypervolume
    for key in ("backbones", "ioes", "dynns", "backbone_s", "inner_search_s"):
        assert all(a[key] <= b[key] for a, b in zip(p, p[1:])), key
    assert p[-1]["backbones"] == len(result.scored)   # distinct backbones, counted once
    assert p[-1]["dynns"] >= len(result.evaluated) > 0
    again = _run(tiny_cfg, tmp_path, Synthetic())     # replayed from the database
    assert again.progress == p


SEARCH_WITHOUT_TORCH = WITHOUT_TORCH + """
import json
from hadas.config import load_config
from hadas.search.bilevel import BilevelSearch
from hadas.storage import RunDatabase
from synthetic import Synthetic
cfg = load_config(sys.argv[1])
with RunDatabase(sys.argv[2]) as db:
    db.open_run("hadas", cfg.fingerprint, cfg.seed, {})
    result = BilevelSearch(cfg, Synthetic(), db, "hadas", say=lambda s: None).run_hadas()
assert not any(m.split(".")[0] == "torch" for m in sys.modules), "torch was imported"
print(json.dumps({"archive": [e.to_dict() for e in result.archive],
                  "hypervolume": result.hypervolume}))
"""


def test_the_whole_search_runs_with_torch_blocked(tiny_cfg, tmp_path):
    """`hadas.search` needs no torch: a whole bi-level search over synthetic evaluators in a
    process where torch cannot be imported gives the in-process result."""
    tests = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests.parent / "src"), str(tests)])}
    proc = subprocess.run([sys.executable, "-c", SEARCH_WITHOUT_TORCH,
                           str(tests.parent / "configs" / "tiny-digits.yaml"),
                           str(tmp_path / "blocked")], capture_output=True, text=True, env=env,
                          timeout=240)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    expected = _run(tiny_cfg, tmp_path / "here", Synthetic())
    assert got["archive"] == json.loads(json.dumps([e.to_dict() for e in expected.archive]))
    assert got["hypervolume"] == expected.hypervolume


MODES_REFERENCE = Path(__file__).resolve().parent / "fixtures" / "synthetic_modes_reference.json"


def test_every_mode_gives_the_stored_result_of_the_code_before_the_record_refactor(tiny_cfg,
                                                                                    tmp_path):
    """The fixture holds, per mode, the archive digest and hypervolumes that commit d6858b6
    (before the typed record, registries and torch-free search) gave on these synthetic
    evaluators, and hadas's energy gain over conventional: behaviour is unchanged."""
    stored = json.loads(MODES_REFERENCE.read_text())
    archives = {}
    for mode, expected in stored["modes"].items():
        result = _mode(tiny_cfg, tmp_path / mode, mode)
        archives[mode] = result.archive
        as_json = [e.to_dict() for e in result.archive]  # the form result.json holds
        digest = hashlib.sha256(json.dumps(as_json, sort_keys=True).encode()).hexdigest()
        assert (len(result.archive), digest) == (expected["archive_size"],
                                                 expected["archive_sha256"]), mode
        assert result.hypervolume == expected["hypervolume"], mode
        assert result.reference_point == expected["reference_point"], mode
    gain = energy_gain(archives["hadas"], archives["conventional"])
    assert dataclasses.asdict(gain) == stored["energy_gain_vs_conventional"]
