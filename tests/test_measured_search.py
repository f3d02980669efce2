"""A `search.hardware: measured` search on this machine, end to end through the command line:
latencies labelled measured, and killed with SIGKILL twice (once while measuring) then rerun, it
re-measures nothing stored and ends with the archive an uninterrupted run gets from the same
stored measurements."""
from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import measured_search_setup
from test_search_crash import _kill_when, _rows

pytestmark = pytest.mark.slow
MEASURES = "SELECT COUNT(*) FROM evaluations WHERE evaluator LIKE 'measure@%'"
IOES = "SELECT COUNT(*) FROM evaluations WHERE evaluator LIKE 'ioe@%'"
NEW = re.compile(r"measurements here: (\d+) new, (\d+) reused")


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    return measured_search_setup(
        tmp_path, {"hardware": "measured"},
        ooe=dict(population=5, generations=1, n_crossover=3, n_mutation=2, survival_ratio=0.34),
        ioe=dict(population=6, generations=3, n_crossover=3, n_mutation=3))


def _search(config: Path, checkpoint: Path, cwd: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "hadas.cli.main", "search", "--config", str(config),
           "--run-dir", "run", "--device", "cpu", "--quiet", "--supernet", str(checkpoint),
           "--mode", "exits-only"]  # on local the clocks are fixed: no DVFS, no breakdown
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _finish(proc: subprocess.Popen) -> tuple[int, int]:
    """(measured, reused) by the last progress line of a search that must succeed."""
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    counts = NEW.findall(out)
    assert counts, out
    last = [line for line in out.splitlines() if "measurements here" in line][-1]
    assert "at most 0 left" in last  # the last generation is done
    return int(counts[-1][0]), int(counts[-1][1])


def _result(cwd: Path) -> dict:
    return json.loads((cwd / "run" / "result.json").read_text())


def test_a_measured_search_resumes_after_kill_9_and_measures_nothing_twice(tmp_path):
    config, checkpoint = _setup(tmp_path)
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    _kill_when(_search(config, checkpoint, crashed), lambda: _rows(crashed, MEASURES) >= 2)
    _kill_when(_search(config, checkpoint, crashed), lambda: _rows(crashed, IOES) >= 1)
    before = _rows(crashed, MEASURES)
    measured, _ = _finish(_search(config, checkpoint, crashed))
    total = _rows(crashed, MEASURES)
    assert measured == total - before  # only what was missing was measured
    result = _result(crashed)
    assert result["archive"]
    assert {e["dynn"]["provenance"]["latency_ms"] for e in result["archive"]} == {"measured"}
    assert {e["dynn"]["provenance"]["energy_mj"] for e in result["archive"]} == {
        "modelled (local)"}  # no energy sensor here: the named model's, labelled
    costs = result["hardware"]["costs"]
    assert costs["backend"] == "measured" and costs["settable"] == []
    assert "cannot be set" in costs["clocks_note"]
    assert "cannot be set on this device" in (crashed / "run" / "report" / "index.html").read_text()

    # an uninterrupted run given the same stored measurements (and nothing else)
    straight = tmp_path / "straight"
    (straight / "run").mkdir(parents=True)
    shutil.copy(crashed / "run" / "hadas.sqlite", straight / "run" / "hadas.sqlite")
    con = sqlite3.connect(straight / "run" / "hadas.sqlite")
    with con:
        con.execute("DELETE FROM evaluations WHERE evaluator NOT LIKE 'measure@%'")
        con.execute("DELETE FROM generations")
        con.execute("DELETE FROM runs")
    con.close()
    measured, reused = _finish(_search(config, checkpoint, straight))
    assert measured == 0 and reused > 0
    assert _result(straight)["archive"] == result["archive"]
    assert _result(straight)["hypervolume"] == result["hypervolume"]
