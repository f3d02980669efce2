"""The public API: what the `hadas` command does, callable from Python (one module per area).

Names load on first use (PEP 562), so `hadas report` and the command line's help never import
torch; `from hadas.api import search` works as usual. No area module is named like one of its
functions (the search lives in `searching.py`): importing it would shadow the function.
"""
from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "BoardMeasurer": "board", "profile": "profiling", "serve_agent": "board",
    "ExitEvaluation": "exits", "evaluate_exits": "exits", "train_exit_bank": "exits",
    "calibrate_platform": "hardware_models", "estimate_costs": "hardware_models",
    "check_platform": "hardware_models", "import_lut": "hardware_models",
    "platform_info": "hardware_models", "platform_summaries": "hardware_models",
    "compare_runs": "runs", "compare_run_groups": "runs", "dvfs_verdict_lines": "runs",
    "list_runs": "runs", "load_result": "runs", "ArchiveEntry": "runs", "entries": "runs",
    "SEARCH_MODES": "modes", "EXIT_POLICIES": "modes", "MODE_HELP": "modes", "EXECUTOR_NAMES": "modes", "HARDWARE": "modes", "search": "searching",
    "configure": "supernet", "default_supernet_dir": "supernet", "describe": "supernet",
    "evaluate": "supernet", "is_main_process": "supernet", "train_supernet": "supernet",
    "write_report": "runs", "export_dynn": "runs", "validate_run": "runs", "validation_figures": "runs",
}
_ALIASES = {"SEARCH_MODES": "MODES", "HARDWARE": "HARDWARE_BACKENDS"}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        if name in _WHERE.values():  # an area module: `api.board`
            return importlib.import_module(f"hadas.api.{name}")
        raise AttributeError(f"module 'hadas.api' has no attribute {name!r}")
    module = importlib.import_module(f"hadas.api.{_WHERE[name]}")
    value = getattr(module, _ALIASES.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
