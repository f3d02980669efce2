"""Storage: the SQLite run database (stdlib only, JSON in and out)."""
from hadas.storage.database import (DB_NAME, RunDatabase, RunDatabaseError, RunRecord,
                                    evaluation_key)
from hadas.storage.lock import run_lock

__all__ = ["DB_NAME", "RunDatabase", "RunDatabaseError", "RunRecord", "evaluation_key",
           "run_lock"]
