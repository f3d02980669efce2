"""The run database: content-addressed evaluations, runs, generations, crash safety."""
from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from hadas.storage import DB_NAME, RunDatabase, RunDatabaseError, evaluation_key


def test_evaluations_are_content_addressed_and_immutable(tmp_path):
    with RunDatabase(tmp_path) as db:
        part = {"backbone": {"resolution": 32, "depth": [1, 2]}, "exits": [5, 9]}
        assert db.get_evaluation("acc@v1", part) is None
        db.put_evaluation("acc@v1", part, {"top1": 91.5}, seconds=1.25)
        reordered = {"exits": [5, 9], "backbone": {"depth": [1, 2], "resolution": 32}}
        assert db.get_evaluation("acc@v1", reordered) == {"top1": 91.5}
        assert db.get_evaluation("acc@v2", part) is None  # another evaluator fingerprint
        db.put_evaluation("acc@v1", part, {"top1": 0.0}, seconds=1.0)
        assert db.get_evaluation("acc@v1", part) == {"top1": 91.5}  # first record is kept
        assert db.count_evaluations() == 1 and db.count_evaluations("acc@v2") == 0
    assert evaluation_key("e", {"a": 1, "b": 2}) == evaluation_key("e", {"b": 2, "a": 1})


def test_a_run_is_reopened_only_with_the_same_config_and_seed(tmp_path):
    with RunDatabase(tmp_path) as db:
        first = db.open_run("main", "abc", 0, {"x": 1})
        assert db.open_run("main", "abc", 0, {"x": 1}).created == first.created
        with pytest.raises(RunDatabaseError, match="another config or seed"):
            db.open_run("main", "zzz", 0, {"x": 2})
        with pytest.raises(RunDatabaseError, match="another config or seed"):
            db.open_run("main", "abc", 1, {"x": 1})
        db.set_status("main", "finished")
        assert [r.status for r in db.runs()] == ["finished"]


def test_generations_round_trip(tmp_path):
    with RunDatabase(tmp_path) as db:
        db.put_generation("main", "ooe", 0, [[1, 2]], [{"id": 1}])
        db.put_generation("main", "ooe", 1, [[3, 4]], [{"id": 2}])
        assert [g["archive"] for g in db.generations("main", "ooe")] == [[{"id": 1}], [{"id": 2}]]
        assert db.generations("main", "ioe") == []


def test_sigkill_while_writing_loses_nothing_committed(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        from hadas.storage import RunDatabase
        db = RunDatabase({str(tmp_path)!r})
        for i in range(100000):
            db.put_evaluation("e", {{"i": i}}, {{"v": i}}, 0.0)
            print(i, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    printed = -1
    deadline = time.monotonic() + 30
    while printed < 200 and time.monotonic() < deadline:
        printed = int(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with RunDatabase(tmp_path) as db:
        assert db.count_evaluations() >= printed + 1
        assert all(db.get_evaluation("e", {"i": i}) == {"v": i} for i in range(printed + 1))
    con = sqlite3.connect(tmp_path / DB_NAME)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()


def test_readers_see_committed_evaluations_while_a_writer_is_open(tmp_path):
    writer, reader = RunDatabase(tmp_path), RunDatabase(tmp_path)
    writer.put_evaluation("e", 1, {"v": 1}, 0.0)
    assert reader.get_evaluation("e", 1) == {"v": 1}
    writer.close()
    reader.close()
