"""The real pipeline (supernet, exit banks, IOE, run database) killed with SIGKILL at several
moments, including inside an IOE, and restarted with the same command: same archive as an
uninterrupted run, and nothing that had finished is computed again."""
from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from browser import browser_unavailable, render
from conftest import CONFIGS

pytestmark = pytest.mark.slow


def _small_config(path: Path) -> Path:
    data = yaml.safe_load((CONFIGS / "tiny-digits.yaml").read_text())
    data["train"].update(epochs=2, warmup_epochs=1)
    data["exits"].update(epochs=3, warmup_epochs=1)
    data["search"]["ooe"].update(population=6, generations=2, n_crossover=3, n_mutation=3,
                                 survival_ratio=0.34)
    data["search"]["ioe"].update(population=6, generations=3, n_crossover=3, n_mutation=3)
    path.write_text(yaml.safe_dump(data))
    return path


def _search(config: Path, cwd: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "hadas.cli.main", "search", "--config", str(config),
           "--run-dir", "run", "--device", "cpu", "--quiet"]
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def _rows(cwd: Path, sql: str) -> int:
    db = cwd / "run" / "hadas.sqlite"
    if not db.exists():
        return 0
    con = sqlite3.connect(db, timeout=5)
    try:
        return con.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:  # the tables are being created
        return 0
    finally:
        con.close()


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, f"finished before the kill point: {proc.stderr.read()}"
        assert time.monotonic() < deadline, "kill point not reached"
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_kill_9_at_several_moments_then_resume_gives_the_same_result(tmp_path):
    config = _small_config(tmp_path / "small.yaml")
    straight, crashed = tmp_path / "straight", tmp_path / "crashed"
    straight.mkdir()
    crashed.mkdir()
    proc = _search(config, straight)
    assert proc.wait(timeout=600) == 0, proc.stderr.read()

    count = "SELECT COUNT(*) FROM evaluations"
    ioes = "SELECT COUNT(*) FROM evaluations WHERE evaluator LIKE 'ioe@%'"
    banks = crashed / "runs" / "tiny-digits" / "supernet" / "exits"
    kill_points = [
        lambda: _rows(crashed, count) >= 2,                          # among backbone evaluations
        lambda: any(banks.glob("*/training.pt")) and _rows(crashed, ioes) == 0,  # inside an IOE
        lambda: _rows(crashed, ioes) >= 2,                           # between IOEs
    ]
    for ready in kill_points:
        _kill_when(_search(config, crashed), ready)
    finished_before = _rows(crashed, count)
    proc = _search(config, crashed)
    assert proc.wait(timeout=600) == 0, proc.stderr.read()

    def result(root: Path) -> dict:
        return json.loads((root / "run" / "result.json").read_text())

    assert result(crashed)["archive"] == result(straight)["archive"]
    total = _rows(straight, count)
    assert _rows(crashed, count) == total
    # the last run computed exactly what was missing: nothing finished was done again
    assert sum(result(crashed)["evaluations"]["computed"].values()) == total - finished_before
    # the energy breakdown and the report come out of the resumed run as well
    assert result(crashed)["breakdown"] == result(straight)["breakdown"]
    page = (crashed / "run" / "report" / "index.html").read_text()
    assert "<table id=pareto>" in page and 'src="front.svg"' in page
    # the real run's report in a real browser (tests/test_report.py skips with the reason when
    # no browser can run here; this end-to-end test then checks the page's text only)
    if browser_unavailable() is None:
        shown = render(crashed / "run" / "report" / "index.html",
                       selectors=["img#front", "img#hypervolume", "table#pareto"])
        assert shown.problems == []
        assert all(e.visible for e in shown.elements.values())
