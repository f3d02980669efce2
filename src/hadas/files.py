"""Reading the text files users hand to hadas (configs, platforms, profiles, results, archs).

Every failure is one ConfigError naming the file and what is wrong with it: missing, not
UTF-8, not valid JSON/YAML, nested deeper than any hadas file is. Parsers recurse, so a
hostile nesting is refused before it can raise RecursionError anywhere downstream.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from hadas.errors import ConfigError

MAX_DEPTH = 64  # hadas files nest a few levels; nothing legitimate comes near this


def read_text(path: str | Path, field: str) -> str:
    """The file's text; ConfigError(field) when it is missing, unreadable or not UTF-8."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(field, f"file not found: {path}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(field, f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(field, f"{path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at "
                          f"offset {exc.start})") from None


def parse_json(text: str, field: str, source: str) -> Any:
    """JSON text of `source` (a path or "inline JSON"), at most MAX_DEPTH levels deep."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(field, f"{source} is not valid JSON ({exc.msg} at line {exc.lineno}, "
                          f"column {exc.colno})") from None
    except RecursionError:
        data = _TOO_DEEP
    check_depth(data, field, source)
    return data


def read_json(path: str | Path, field: str) -> Any:
    return parse_json(read_text(path, field), field, str(path))


def read_yaml(path: str | Path, field: str) -> Any:
    """A YAML file's data, at most MAX_DEPTH levels deep."""
    text = read_text(path, field)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(field, f"{path} is not valid YAML{where}") from None
    except RecursionError:
        data = _TOO_DEEP
    check_depth(data, field, str(path))
    return data


_TOO_DEEP = object()


def check_depth(data: Any, field: str, source: str) -> None:
    """Refuse lists/mappings nested more than MAX_DEPTH levels (checked without recursion)."""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if node is _TOO_DEEP or (isinstance(node, (dict, list)) and depth > MAX_DEPTH):
            raise ConfigError(field, f"{source} nests deeper than {MAX_DEPTH} levels")
        if isinstance(node, (dict, list)):
            stack.extend((v, depth + 1) for v in (node.values() if isinstance(node, dict)
                                                  else node))
