"""The run database: content-addressed evaluations, runs, generations, crash safety."""
from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from hadas.storage import DB_NAME, RunDatabase, RunDatabaseError, evaluation_key, run_lock


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


# --- broken state: one clear line, nothing used that does not match -----------------------------

def _one_line(exc: pytest.ExceptionInfo, *snippets: str) -> str:
    message = str(exc.value)
    assert "\n" not in message and all(s in message for s in snippets), message
    return message


def _filled(tmp_path, n: int = 20) -> None:
    with RunDatabase(tmp_path) as db:
        for i in range(n):
            db.put_evaluation("e", {"i": i}, {"v": i, "pad": "x" * 500}, 0.0)


@pytest.mark.parametrize("damage", ["truncated", "bad header", "not sqlite"])
def test_a_damaged_database_file_is_one_line_with_the_way_out(tmp_path, damage):
    _filled(tmp_path)
    path = tmp_path / DB_NAME
    raw = path.read_bytes()
    for extra in ("-wal", "-shm"):
        (tmp_path / (DB_NAME + extra)).unlink(missing_ok=True)
    if damage == "truncated":
        path.write_bytes(raw[:len(raw) // 3 + 7])
    elif damage == "bad header":
        path.write_bytes(b"SQLite format 2\x00" + raw[16:])
    else:
        path.write_bytes(b'{"this": "is json"}\n' * 300)

    def read_all() -> None:
        with RunDatabase(tmp_path) as db:
            for i in range(20):
                db.get_evaluation("e", {"i": i})

    with pytest.raises(RunDatabaseError) as info:
        read_all()
    _one_line(info, str(path), "move it away and rerun")


def test_a_table_of_another_shape_is_refused(tmp_path):
    con = sqlite3.connect(tmp_path / DB_NAME)
    con.execute("CREATE TABLE evaluations (key TEXT PRIMARY KEY, value TEXT)")
    con.close()
    with pytest.raises(RunDatabaseError) as info:
        RunDatabase(tmp_path)
    _one_line(info, "table evaluations has columns ['key', 'value']")


@pytest.mark.parametrize("edit", ["value", "moved to another key", "not json"])
def test_a_row_edited_by_hand_is_refused_not_used(tmp_path, edit):
    _filled(tmp_path, 3)
    con = sqlite3.connect(tmp_path / DB_NAME)
    key = evaluation_key("e", {"i": 1})
    if edit == "value":
        con.execute("UPDATE evaluations SET value=? WHERE key=?", ('{"v": 99}', key))
    elif edit == "moved to another key":  # row 2's content filed under row 1's key
        con.execute("DELETE FROM evaluations WHERE key=?", (key,))
        con.execute("UPDATE evaluations SET key=? WHERE key=?", (key, evaluation_key("e", {"i": 2})))
    else:
        con.execute("UPDATE evaluations SET value='{not json' WHERE key=?", (key,))
    con.commit()
    con.close()
    with RunDatabase(tmp_path) as db:
        assert db.get_evaluation("e", {"i": 0})["v"] == 0  # the others are fine
        with pytest.raises(RunDatabaseError) as info:
            db.get_evaluation("e", {"i": 1})
    _one_line(info, "refusing to use it", "move it away and rerun")


def test_an_edited_generation_is_refused(tmp_path):
    with RunDatabase(tmp_path) as db:
        db.put_generation("hadas", "ooe", 0, [[1, 2]], [{"a": 1}])
    con = sqlite3.connect(tmp_path / DB_NAME)
    con.execute("UPDATE generations SET archive='[]'")
    con.commit()
    con.close()
    with RunDatabase(tmp_path) as db, pytest.raises(RunDatabaseError) as info:
        db.generations("hadas", "ooe")
    _one_line(info, "generation 0 of ooe", "checksum")


def test_a_schema_1_database_is_migrated_with_its_rows(tmp_path):
    con = sqlite3.connect(tmp_path / DB_NAME)
    con.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE runs (name TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, seed INTEGER NOT NULL,
            config TEXT NOT NULL, created REAL NOT NULL, status TEXT NOT NULL);
        CREATE TABLE evaluations (key TEXT PRIMARY KEY, evaluator TEXT NOT NULL, part TEXT NOT NULL,
            value TEXT NOT NULL, seconds REAL NOT NULL, created REAL NOT NULL);
        CREATE TABLE generations (run TEXT NOT NULL, engine TEXT NOT NULL, number INTEGER NOT NULL,
            population TEXT NOT NULL, archive TEXT NOT NULL, created REAL NOT NULL,
            PRIMARY KEY (run, engine, number));
        INSERT INTO meta VALUES ('schema', '1');""")
    con.execute("INSERT INTO evaluations VALUES (?, 'e', '{\"i\": 1}', '{\"v\": 1}', 0, 0)",
                (evaluation_key("e", {"i": 1}),))
    con.execute("INSERT INTO generations VALUES ('r', 'ooe', 0, '[]', '[1]', 0)")
    con.commit()
    con.close()
    with RunDatabase(tmp_path) as db:
        assert db.get_evaluation("e", {"i": 1}) == {"v": 1}
        assert db.generations("r", "ooe")[0]["archive"] == [1]


def test_a_database_locked_too_long_says_who_to_wait_for(tmp_path):
    db = RunDatabase(tmp_path, timeout_s=0.2)
    holder = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with db, pytest.raises(RunDatabaseError) as info:
            db.put_evaluation("e", 1, {"v": 1}, 0.0)
        _one_line(info, "locked by another process for more than 0.2 s")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_full_disk_says_so_and_loses_nothing_committed(tmp_path):
    db = RunDatabase(tmp_path)
    db._db.execute("PRAGMA max_page_count=40")  # a disk that fills up after a few pages
    stored = 0
    with pytest.raises(RunDatabaseError) as info:
        for i in range(10_000):
            db.put_evaluation("e", {"i": i}, {"v": "x" * 2000}, 0.0)
            stored += 1
    _one_line(info, "the disk is full", "every evaluation committed before is kept")
    db.close()
    with RunDatabase(tmp_path) as again:
        assert again.count_evaluations() == stored > 0
        assert again.get_evaluation("e", {"i": stored - 1}) == {"v": "x" * 2000}


# --- one search per run directory ---------------------------------------------------------------

def test_a_second_search_on_a_run_directory_is_refused_naming_the_holder(tmp_path):
    with run_lock(tmp_path / "run"):
        with pytest.raises(RunDatabaseError) as info, run_lock(tmp_path / "run"):
            pass
        _one_line(info, f"process {os.getpid()} on {socket.gethostname()}", "a search started")
    with run_lock(tmp_path / "run"):  # released: free again
        pass


def test_a_lock_left_by_a_killed_search_is_taken_over(tmp_path):
    script = textwrap.dedent(f"""
        import time
        from hadas.storage import run_lock
        with run_lock({str(tmp_path / "run")!r}):
            print("locked", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(RunDatabaseError, match=f"process {proc.pid} "), \
                run_lock(tmp_path / "run"):
            pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with run_lock(tmp_path / "run") as path:  # stale: the file is there, the lock is not
        assert json.loads(path.read_text())["pid"] == os.getpid()
