"""Results that stand up: bootstrap intervals, paired per-seed tests, groups of runs compared
on the command line, and the breakdown's verdict on DVFS."""
from __future__ import annotations

import json
import types

import numpy as np
import pytest

from conftest import raises_config_error
from hadas.cli.main import main
from hadas.space.dynn import DynnResult
from hadas.report.compare import compare_groups, dvfs_verdict_lines
from hadas.report.statistics import bootstrap_mean, paired

from hadas.search.breakdown import dvfs_verdict
from ioe_problem import real_problem

ARCH = {"resolution": 32, "width": [8, 8, 16, 24, 32, 40, 56, 64, 128],
        "depth": [1] * 7, "kernel_size": [3] * 7, "expand_ratio": [1, 3, 3, 3, 3, 6, 6]}


def test_the_bootstrap_interval_holds_the_mean_and_is_reproducible():
    x = np.random.default_rng(0).normal(0.9, 0.01, 8)
    ci = bootstrap_mean(x)
    assert ci.low < x.mean() < ci.high and ci.mean == pytest.approx(x.mean())
    assert bootstrap_mean(x) == ci
    assert ci.high - ci.low < 4 * x.std()            # the interval of a mean, not of the values
    wide = bootstrap_mean(x, level=0.99)
    assert wide.low <= ci.low and wide.high >= ci.high
    one = bootstrap_mean([0.5])
    assert (one.low, one.mean, one.high) == (0.5, 0.5, 0.5)


def test_paired_counts_wins_and_uses_the_exact_wilcoxon_test():
    ours = [0.91, 0.92, 0.93, 0.94, 0.95, 0.96]
    theirs = [0.90, 0.90, 0.90, 0.90, 0.90, 0.90]
    p = paired(ours, theirs)
    assert (p.wins, p.losses, p.ties) == (6, 0, 0)
    assert p.p_value == pytest.approx(2 / 2 ** 6)      # every sign agrees: the exact minimum
    assert paired(theirs, ours).losses == 6
    mixed = paired([1, 2, 3, 4, 5], [2, 1, 4, 3, 6])
    assert (mixed.wins, mixed.losses) == (2, 3) and mixed.p_value > 0.05
    assert paired([1, 2], [1, 2]).p_value == 1.0
    with pytest.raises(ValueError, match="same seeds"):
        paired([1, 2, 3], [1, 2])


def _result(mode: str, seed: int, hv: float, energies: list[float]) -> dict:
    """A result.json with every key its reader checks (`report.run.result_shape_problem`)."""
    def dynn(top1: float, energy_mj: float) -> dict:
        return {"top1": top1, "latency_ms": 1.0, "energy_mj": energy_mj, "dvfs_hz": {},
                "exits": {"positions": [3], "policy": "max_softmax", "threshold": 0.8},
                "exit_rates": [0.5, 0.5], "exit_accuracy": [95.0, 85.0],
                "provenance": {"latency_ms": "modelled", "energy_mj": "modelled"}}
    archive = [{"backbone": ARCH, "dynn": dynn(90.0 - i, e), "generation": 0}
               for i, e in enumerate(energies)]
    return {"name": "tiny-digits", "mode": mode, "seed": seed, "platform": "local",
            "hypervolume": [hv - 0.1, hv], "archive": archive, "evaluated": [], "scored": [],
            "breakdown": None, "reference_point": [100.0, 5.0, 9.0]}


def test_groups_pair_by_seed_and_refuse_different_seeds():
    ours = [_result("hadas", s, 0.9 + 0.01 * s, [1.0, 0.5]) for s in (2, 0, 1)]
    base = [_result("conventional", s, 0.9, [2.0, 1.0]) for s in (0, 1, 2)]
    c = compare_groups(ours, base)
    assert c.seeds == [0, 1, 2] and c.same_reference
    assert (c.paired.wins, c.paired.ties) == (2, 1)
    assert c.gain_mean_pct.mean == pytest.approx(50.0) and c.gain_seeds == 3
    with raises_config_error("runs", "same seeds", "[0, 1, 2]", "[0, 1, 5]"):
        compare_groups(ours, [*base[:2], _result("conventional", 5, 0.9, [1.0])])
    with raises_config_error("runs", "same seed"):
        compare_groups([ours[0], ours[0]], base[:2])


def test_runs_compare_takes_several_runs_per_side(tmp_path, capsys):
    dirs = {}
    for mode, hv in (("hadas", 0.95), ("conventional", 0.90)):
        for seed in range(5):
            d = tmp_path / f"{mode}-seed{seed}"
            d.mkdir()
            (d / "result.json").write_text(json.dumps(_result(mode, seed, hv + 0.001 * seed,
                                                              [1.0, 0.8])))
            dirs.setdefault(mode, []).append(str(d))
    assert main(["runs", "compare", *dirs["hadas"], "--baseline", *dirs["conventional"]]) == 0
    out = capsys.readouterr().out
    assert "seeds [0, 1, 2, 3, 4]" in out and "hadas wins 5, loses 0, ties 0" in out
    assert "p = 0.0625" in out and "0.9520 [" in out


class _Engine:
    """What `dvfs_verdict` reads from a search: the evaluators' inner problem of a backbone."""

    def __init__(self, problem):
        self.ev = types.SimpleNamespace(ioe_problem=lambda b: problem)


def test_the_verdict_on_dvfs_comes_from_the_plans_own_grid(tiny_cfg):
    space, evaluator = real_problem(tiny_cfg)
    reference = evaluator.hardware.platform.reference_hz(evaluator.hardware.mode)
    plan, _ = space.sample(np.random.default_rng(3))
    at_reference = evaluator.evaluate(plan, reference)
    grid = evaluator.evaluate_grid(plan, space.tables)
    verdict = dvfs_verdict(_Engine((space, evaluator)), None, at_reference, at_reference)
    assert not verdict["beats_exits"] and verdict["grid_points"] == grid.energy_mj.size
    assert verdict["least_energy"]["energy_mj"] == pytest.approx(grid.energy_mj.min())
    expected = "missed" if grid.energy_mj.min() < at_reference.energy_mj * (1 - 1e-9) \
        else "race to idle"
    assert verdict["reason"].startswith(expected)
    assert 0 < verdict["time_share_pct"] <= 100
    cheaper = DynnResult(**{**at_reference.__dict__, "energy_mj": 0.9 * at_reference.energy_mj})
    won = dvfs_verdict(_Engine(None), None, at_reference, cheaper)
    assert won["beats_exits"] and won["saving_pct"] == pytest.approx(10.0)
    lines = dvfs_verdict_lines([{"label": "min", "dvfs_verdict": won},
                                {"label": "max", "dvfs_verdict": verdict}, {"label": "old"}])
    assert lines[0] == ("min: exits + DVFS spends 10.0 % less energy than exits alone at equal "
                        "accuracy")
    assert lines[1].startswith("max: exits + DVFS does not beat exits alone; ") and len(lines) == 2
