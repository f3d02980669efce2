"""The run database: one SQLite file (stdlib sqlite3, WAL) per run directory.

Records are immutable JSON. `evaluations` is content-addressed (candidate part + evaluator
fingerprint), so a rerun, a resumed run, or another run in the same directory reuses every
finished evaluation; each one is committed as soon as it exists, so a crash loses at most the
evaluation in flight. `generations` keeps every generation's population and archive.

Every stored value carries the checksum of its row, checked on read: a row edited by hand or
damaged is refused, never used. Every sqlite failure (not a database, locked, disk full, tables
of another shape) is one RunDatabaseError naming the file and what to do.
"""
from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hadas.digest import json_digest
from hadas.errors import HadasError

DB_NAME = "hadas.sqlite"
SCHEMA_VERSION = 2  # 2: row checksums
_TABLES = {
    "meta": "key TEXT PRIMARY KEY, value TEXT NOT NULL",
    "runs": "name TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, seed INTEGER NOT NULL, "
            "config TEXT NOT NULL, created REAL NOT NULL, status TEXT NOT NULL",
    "evaluations": "key TEXT PRIMARY KEY, evaluator TEXT NOT NULL, part TEXT NOT NULL, "
                   "value TEXT NOT NULL, seconds REAL NOT NULL, created REAL NOT NULL, "
                   "checksum TEXT NOT NULL",
    "generations": "run TEXT NOT NULL, engine TEXT NOT NULL, number INTEGER NOT NULL, "
                   "population TEXT NOT NULL, archive TEXT NOT NULL, created REAL NOT NULL, "
                   "checksum TEXT NOT NULL, PRIMARY KEY (run, engine, number)"}
_COLUMNS = {t: [c.split()[0] for c in spec.split(", PRIMARY KEY")[0].split(", ")]
            for t, spec in _TABLES.items()}
_RESTART = "move it away and rerun: the search starts afresh, exit banks and the supernet are reused"


class RunDatabaseError(HadasError):
    """A run directory that cannot be used as asked."""


def checksum(*fields: Any) -> str:
    """Digest of a row's stored text fields."""
    return json_digest(fields, 32, sort_keys=False, compact=True)


def evaluation_key(evaluator: str, part: Any) -> str:
    """Content address of one evaluation: evaluator fingerprint + canonical JSON of the part."""
    return json_digest([evaluator, part], None, compact=True)


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

    def __init__(self, run_dir: str | Path, timeout_s: float = 30.0):
        self.path = Path(run_dir) / DB_NAME
        self.timeout_s = timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._sqlite():
            self._db = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None)
            try:
                self._open()
            except BaseException:
                self._db.close()
                raise

    def _open(self) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._transaction():
            tables = {r[0] for r in self._db.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")}
            for table, spec in _TABLES.items():
                if table not in tables:
                    self._db.execute(f"CREATE TABLE {table} ({spec})")
            row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif row[0] == "1":
                self._add_checksums()
            elif row[0] != str(SCHEMA_VERSION):
                raise RunDatabaseError(f"{self.path} has schema {row[0]!r}, this hadas reads "
                                       f"{SCHEMA_VERSION}: {_RESTART}")
            for table, columns in _COLUMNS.items():
                found = [r[1] for r in self._db.execute(f"PRAGMA table_info({table})")]
                if found != columns:
                    raise RunDatabaseError(f"{self.path}: table {table} has columns {found}, "
                                           f"not {columns}: {_RESTART}")

    def _add_checksums(self) -> None:
        """Schema 1 -> 2: the rows as they are, each with its checksum."""
        for table, fields in (("evaluations", "key, evaluator, part, value"),
                              ("generations", "run, engine, number, population, archive")):
            self._db.execute(f"ALTER TABLE {table} ADD COLUMN checksum TEXT NOT NULL DEFAULT ''")
            for rowid, *values in self._db.execute(f"SELECT rowid, {fields} FROM {table}")\
                    .fetchall():
                self._db.execute(f"UPDATE {table} SET checksum=? WHERE rowid=?",
                                 (checksum(*values), rowid))
        self._db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(SCHEMA_VERSION),))

    @contextmanager
    def _sqlite(self) -> Iterator[None]:
        """sqlite3 failures as one RunDatabaseError saying what happened and what to do."""
        try:
            yield
        except sqlite3.Error as exc:
            text = str(exc)
            if "locked" in text or "busy" in text:
                why = (f"locked by another process for more than {self.timeout_s:g} s (another "
                       "search on this run directory?): wait for it and rerun")
            elif "full" in text:
                why = ("the disk is full: free space and rerun; every evaluation committed "
                       "before is kept")
            elif isinstance(exc, sqlite3.DatabaseError) and (
                    "not a database" in text or "malformed" in text):
                why = f"not a readable SQLite database (truncated or overwritten?): {_RESTART}"
            else:
                why = f"{type(exc).__name__}: {text}"
            raise RunDatabaseError(f"run database {self.path}: {why}") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "RunDatabase":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._sqlite():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._sqlite():
            return self._db.execute(sql, args).fetchall()

    def _checked(self, row: tuple[Any, ...], what: str) -> None:
        """Refuse a row whose checksum (last column) does not match its other text fields."""
        *fields, stored = row
        if stored != checksum(*fields):
            raise RunDatabaseError(
                f"run database {self.path}: the stored {what} does not match its checksum "
                f"(edited or damaged), refusing to use it: {_RESTART}")

    def _json(self, text: str, what: str) -> Any:
        try:
            return json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            raise RunDatabaseError(f"run database {self.path}: the stored {what} is not JSON: "
                                   f"{_RESTART}") from None

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
        rows = self._query("SELECT name, fingerprint, seed, config, created, status FROM runs "
                           "WHERE name=?", (name,))
        if not rows:
            raise RunDatabaseError(f"no run {name!r} in {self.path.parent}")
        row = rows[0]
        return RunRecord(row[0], row[1], row[2], self._json(row[3], f"config of run {name!r}"),
                         row[4], row[5])

    def runs(self) -> list[RunRecord]:
        return [self.run(r[0]) for r in self._query("SELECT name FROM runs ORDER BY created")]

    def set_status(self, name: str, status: str) -> None:
        with self._transaction():
            self._db.execute("UPDATE runs SET status=? WHERE name=?", (status, name))

    # -- evaluations -----------------------------------------------------------------------------
    def get_evaluation(self, evaluator: str, part: Any) -> dict[str, Any] | None:
        """The stored value, after checking its row: key, checksum, a JSON object."""
        key = evaluation_key(evaluator, part)
        rows = self._query("SELECT key, evaluator, part, value, checksum FROM evaluations "
                           "WHERE key=?", (key,))
        if not rows:
            return None
        row = rows[0]
        what = f"evaluation {key[:12]}"
        self._checked(row, what)
        if evaluation_key(row[1], self._json(row[2], what)) != key:
            raise RunDatabaseError(f"run database {self.path}: the stored {what} is filed "
                                   f"under another candidate's key, refusing to use it: {_RESTART}")
        value = self._json(row[3], what)
        if not isinstance(value, dict):
            raise RunDatabaseError(f"run database {self.path}: the stored {what} is not a JSON "
                                   f"object, refusing to use it: {_RESTART}")
        return value

    def put_evaluation(self, evaluator: str, part: Any, value: dict[str, Any],
                       seconds: float) -> None:
        """Store one finished evaluation (committed at once; an existing one is kept)."""
        fields = (evaluation_key(evaluator, part), evaluator, json.dumps(part, sort_keys=True),
                  json.dumps(value))
        with self._transaction():
            self._db.execute("INSERT OR IGNORE INTO evaluations (key, evaluator, part, value, "
                             "seconds, created, checksum) VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (*fields, seconds, time.time(), checksum(*fields)))

    def count_evaluations(self, evaluator: str | None = None) -> int:
        if evaluator is None:
            return self._query("SELECT COUNT(*) FROM evaluations")[0][0]
        return self._query("SELECT COUNT(*) FROM evaluations WHERE evaluator=?", (evaluator,))[0][0]

    # -- generations -----------------------------------------------------------------------------
    def put_generation(self, run: str, engine: str, number: int, population: Any,
                       archive: Any) -> None:
        fields = (run, engine, number, json.dumps(population), json.dumps(archive))
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO generations (run, engine, number, population, "
                             "archive, created, checksum) VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (*fields, time.time(), checksum(*fields)))

    def generations(self, run: str, engine: str) -> list[dict[str, Any]]:
        rows = self._query("SELECT run, engine, number, population, archive, checksum FROM "
                           "generations WHERE run=? AND engine=? ORDER BY number", (run, engine))
        out = []
        for row in rows:
            what = f"generation {row[2]} of {engine}"
            self._checked(row, what)
            out.append({"number": row[2], "population": self._json(row[3], what),
                        "archive": self._json(row[4], what)})
        return out
