"""The public API: what the `hadas` command does, callable from Python (one module per area)."""
from hadas.api.board import BoardMeasurer, profile, serve_agent
from hadas.api.exits import ExitEvaluation, evaluate_exits, train_exit_bank
from hadas.api.hardware_models import (calibrate_platform, estimate_costs, platform_info,
                                        platform_summaries)
from hadas.api.runs import compare_runs, list_runs, load_result
from hadas.api.search import MODES as SEARCH_MODES
from hadas.api.search import search
from hadas.api.supernet import configure, default_supernet_dir, describe, evaluate, train_supernet

__all__ = ["SEARCH_MODES", "BoardMeasurer", "ExitEvaluation", "calibrate_platform",
           "compare_runs", "configure", "default_supernet_dir", "describe", "estimate_costs",
           "evaluate", "evaluate_exits", "list_runs", "load_result", "platform_info",
           "platform_summaries", "profile", "search", "serve_agent", "train_exit_bank",
           "train_supernet"]
