"""The one content digest: sha256 of canonical JSON, hex, cut to `length` characters.

Keys already stored (run databases, exit banks, profiles, result files) depend on the exact
text hashed, so each caller keeps its serialisation: keys sorted unless `sort_keys=False`,
compact separators where `compact=True`, and `default` for values JSON does not know.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any


def json_digest(data: Any, length: int | None = 16, *, sort_keys: bool = True,
                compact: bool = False, default: Callable[[Any], Any] | None = None) -> str:
    text = json.dumps(data, sort_keys=sort_keys, default=default,
                      separators=(",", ":") if compact else None)
    return hashlib.sha256(text.encode()).hexdigest()[:length]
