"""The run database: one SQLite file (stdlib sqlite3, WAL) per run directory.

Records are immutable JSON. `evaluations` is content-addressed (candidate part + evaluator
fingerprint), so a rerun, a resumed run, or another run in the same directory reuses every
finished evaluation; each one is committed as soon as it exists, so a crash loses at most the
evaluation in flight. `generations` keeps every generation's population and archive.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hadas.errors import HadasError

DB_NAME = "hadas.sqlite"
SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    name TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, seed INTEGER NOT NULL,
    config TEXT NOT NULL, created REAL NOT NULL, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS evaluations (
    key TEXT PRIMARY KEY, evaluator TEXT NOT NULL, part TEXT NOT NULL,
    value TEXT NOT NULL, seconds REAL NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS generations (
    run TEXT NOT NULL, engine TEXT NOT NULL, number INTEGER NOT NULL,
    population TEXT NOT NULL, archive TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (run, engine, number));
"""


class RunDatabaseError(HadasError):
    """A run directory that cannot be used as asked."""


def evaluation_key(evaluator: str, part: Any) -> str:
    """Content address of one evaluation: evaluator fingerprint + canonical JSON of the part."""
    text = json.dumps([evaluator, part], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class RunRecord:
    name: str
    fingerprint: str
    seed: int
    config: dict[str, Any]
    created: float
    status: str


class RunDatabase:
    """Open (or create) the database of a run directory."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / DB_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        with self._transaction():
            row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) != SCHEMA_VERSION:
                raise RunDatabaseError(f"{self.path} has schema {row[0]}, this hadas reads "
                                       f"{SCHEMA_VERSION}")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "RunDatabase":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- runs ------------------------------------------------------------------------------------
    def open_run(self, name: str, fingerprint: str, seed: int, config: dict[str, Any]) -> RunRecord:
        """Create the run, or reopen it when config and seed match; refuse anything else."""
        with self._transaction():
            row = self._db.execute("SELECT fingerprint, seed FROM runs WHERE name=?",
                                   (name,)).fetchone()
            if row is None:
                self._db.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, 'running')",
                                 (name, fingerprint, seed, json.dumps(config), time.time()))
            elif (row[0], row[1]) != (fingerprint, seed):
                raise RunDatabaseError(
                    f"run {name!r} in {self.path.parent} was made with another config or seed "
                    f"(fingerprint {row[0]}, seed {row[1]}; now {fingerprint}, seed {seed}): "
                    "use another run directory")
        return self.run(name)

    def run(self, name: str) -> RunRecord:
        row = self._db.execute("SELECT name, fingerprint, seed, config, created, status FROM runs "
                               "WHERE name=?", (name,)).fetchone()
        if row is None:
            raise RunDatabaseError(f"no run {name!r} in {self.path.parent}")
        return RunRecord(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5])

    def runs(self) -> list[RunRecord]:
        names = [r[0] for r in self._db.execute("SELECT name FROM runs ORDER BY created")]
        return [self.run(n) for n in names]

    def set_status(self, name: str, status: str) -> None:
        with self._transaction():
            self._db.execute("UPDATE runs SET status=? WHERE name=?", (status, name))

    # -- evaluations -----------------------------------------------------------------------------
    def get_evaluation(self, evaluator: str, part: Any) -> dict[str, Any] | None:
        row = self._db.execute("SELECT value FROM evaluations WHERE key=?",
                               (evaluation_key(evaluator, part),)).fetchone()
        return None if row is None else json.loads(row[0])

    def put_evaluation(self, evaluator: str, part: Any, value: dict[str, Any],
                       seconds: float) -> None:
        """Store one finished evaluation (committed at once; an existing one is kept)."""
        with self._transaction():
            self._db.execute("INSERT OR IGNORE INTO evaluations VALUES (?, ?, ?, ?, ?, ?)",
                             (evaluation_key(evaluator, part), evaluator,
                              json.dumps(part, sort_keys=True), json.dumps(value), seconds,
                              time.time()))

    def count_evaluations(self, evaluator: str | None = None) -> int:
        if evaluator is None:
            return self._db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]
        return self._db.execute("SELECT COUNT(*) FROM evaluations WHERE evaluator=?",
                                (evaluator,)).fetchone()[0]

    # -- generations -----------------------------------------------------------------------------
    def put_generation(self, run: str, engine: str, number: int, population: Any,
                       archive: Any) -> None:
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO generations VALUES (?, ?, ?, ?, ?, ?)",
                             (run, engine, number, json.dumps(population), json.dumps(archive),
                              time.time()))

    def generations(self, run: str, engine: str) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT number, population, archive FROM generations "
                                "WHERE run=? AND engine=? ORDER BY number", (run, engine))
        return [{"number": n, "population": json.loads(p), "archive": json.loads(a)}
                for n, p, a in rows]
