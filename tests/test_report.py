"""The HTML report of a run directory: content, a real browser, and no torch needed.

The run directories are written by the real search engine, `write_result` and the energy
breakdown, on synthetic evaluators (tests/synthetic.py) so that they take a second.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import WITHOUT_TORCH

from hadas.api.searching import write_result
from hadas.cli.main import main
from hadas.hardware import get_platform
from hadas.report import energy_gain, write_report
from hadas.search.bilevel import BilevelSearch
from hadas.search.breakdown import comparison_backbones, energy_breakdown
from hadas.space.dynn import entries
from hadas.storage import RunDatabase
from synthetic import Synthetic

SRC = Path(__file__).resolve().parents[1] / "src"


def synthetic_run(cfg, run_dir: Path, mode: str) -> Path:
    with RunDatabase(run_dir) as db:
        db.open_run(mode, cfg.fingerprint, cfg.seed, {})
        engine = BilevelSearch(cfg, Synthetic(), db, mode, say=lambda s: None)
        result = engine.run_conventional(None) if mode == "conventional" else engine.run_hadas()
        breakdown = (energy_breakdown(engine, comparison_backbones(engine, result.archive))
                     if mode == "hadas" else None)
    write_result(run_dir, cfg, mode, result, 1.5, get_platform(cfg.search.platform),
                 {"checkpoint": "synthetic", "exits_dir": "synthetic"}, breakdown)
    return run_dir


@pytest.fixture(scope="module")
def runs(tiny_cfg, tmp_path_factory) -> Path:
    """runs/<name>/hadas-seed0 and conventional-seed0 beside it."""
    root = tmp_path_factory.mktemp("runs") / tiny_cfg.name
    for mode in ("conventional", "hadas"):
        synthetic_run(tiny_cfg, root / f"{mode}-seed{tiny_cfg.seed}", mode)
    return root


class Page(HTMLParser):
    """Ids, image sources and the rows of each table of a page."""

    def __init__(self, text: str):
        super().__init__()
        self.ids, self.images, self.rows, self._table = set(), [], {}, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "img":
            self.images.append(a["src"])
        if tag == "table":
            self._table = a.get("id", f"table{len(self.rows)}")
            self.rows[self._table] = 0
        if tag == "tr" and self._table:
            self.rows[self._table] += 1


def test_report_shows_fronts_hypervolume_table_breakdown_gain_and_provenance(runs, tmp_path):
    run_dir = runs / "hadas-seed0"
    result = json.loads((run_dir / "result.json").read_text())
    index = write_report(run_dir, tmp_path / "report")
    text = index.read_text()
    page = Page(text)
    assert {"front", "hypervolume", "breakdown", "pareto", "gains"} <= page.ids
    assert page.rows["pareto"] == len(result["archive"]) + 1          # + header row
    assert page.rows["breakdown"] == 1 + sum(len(r["stages"]) for r in result["breakdown"])
    for src in page.images:                                          # local, valid SVG files
        assert "://" not in src
        assert ET.parse(index.parent / src).getroot().tag.endswith("svg")
    # the energy gain against the conventional run beside it, as `energy_gain` computes it
    conventional = json.loads((runs / "conventional-seed0" / "result.json").read_text())
    gain = energy_gain(entries(result["archive"]), entries(conventional["archive"]))
    assert gain.matched > 0
    assert f"{gain.max_pct:.1f} %" in text and f"{gain.mean_pct:.1f} %" in text
    # provenance: platform fingerprint, software versions, config, cost labels
    assert result["hardware"]["fingerprint"] in text
    assert f"torch {result['software']['torch']}," in text
    assert "&quot;platform&quot;: &quot;agx-xavier-calibrated&quot;" in text
    assert "synthetic" in text
    # the cloud behind the front: what the search itself evaluated, the archive among it
    key = (lambda e: json.dumps([e["backbone"], e["dynn"]["exits"], e["dynn"]["dvfs_hz"]]))
    assert {key(e) for e in result["archive"]} <= {key(e) for e in result["evaluated"]}
    scored = {json.dumps(s["backbone"]) for s in result["scored"]}
    assert {json.dumps(e["backbone"]) for e in result["evaluated"]} <= scored
    assert f"IOE fronts ({len(result['evaluated'])})" in (index.parent / "front.svg").read_text()
    # the breakdown never claims a saving it did not match in accuracy
    for row in result["breakdown"]:
        alone = row["stages"]["backbone"]["top1"]
        for stage in ("exits", "exits+dvfs"):
            d = row["stages"][stage]
            assert d["matched"] == (d["top1"] >= alone)
        assert row["stages"]["exits+dvfs"]["energy_mj"] <= row["stages"]["exits"]["energy_mj"]


def test_the_report_is_reproducible_and_goes_to_run_dir_report_by_default(runs):
    run_dir = runs / "hadas-seed0"
    first = write_report(run_dir)
    assert first == run_dir / "report" / "index.html"
    contents = {p.name: p.read_bytes() for p in first.parent.iterdir()}
    write_report(run_dir)
    assert {p.name: p.read_bytes() for p in first.parent.iterdir()} == contents


def test_report_renders_in_headless_chromium_without_errors(runs, tmp_path, render_page):
    index = write_report(runs / "hadas-seed0", tmp_path / "report")
    shown = render_page(index, selectors=["img#front", "img#hypervolume", "img#breakdown",
                                          "table#pareto", "table#gains"],
                        screenshot=tmp_path / "report.png")
    assert shown.problems == []
    for selector in ("img#front", "img#hypervolume", "img#breakdown"):
        assert shown.elements[selector].visible and shown.elements[selector].loaded
    assert shown.elements["table#pareto"].visible
    assert shown.table_header[:4] == ["ID", "top-1 %", "latency ms", "energy mJ"]
    assert (tmp_path / "report.png").stat().st_size > 10_000


HIDE_TORCH = WITHOUT_TORCH + """
from hadas.cli.main import main
code = main(sys.argv[1:])
assert not any(m.split(".")[0] == "torch" for m in sys.modules), "torch was imported"
sys.exit(code)
"""


def test_hadas_report_works_without_torch(runs, tmp_path):
    out = tmp_path / "no-torch"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.run([sys.executable, "-c", HIDE_TORCH, "report", str(runs / "hadas-seed0"),
                           "--out", str(out)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"report: {out / 'index.html'}" in proc.stdout
    assert (out / "front.svg").is_file() and "table" in (out / "index.html").read_text()


def test_report_of_a_folder_without_a_finished_run_is_a_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "result.json not found" in capsys.readouterr().err
    (tmp_path / "result.json").write_text("{broken")
    assert main(["report", str(tmp_path)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_a_search_refreshes_the_reports_beside_it_and_survives_a_broken_one(runs, tmp_path):
    from hadas.api.searching import refresh_sibling_reports

    root = tmp_path / "runs"
    for mode in ("hadas", "conventional"):
        (root / f"{mode}-seed0").mkdir(parents=True)
        (root / f"{mode}-seed0" / "result.json").write_bytes(
            (runs / f"{mode}-seed0" / "result.json").read_bytes())
    broken = root / "static-seed0"
    (broken / "report").mkdir(parents=True)
    (broken / "result.json").write_text("{broken")
    (broken / "report" / "index.html").write_text("old")
    index = write_report(root / "hadas-seed0")          # the broken neighbour is skipped
    index.write_text("old")
    said = []
    refresh_sibling_reports(root / "conventional-seed0", 0, said.append)
    assert "id=gains" in index.read_text()                # rewritten, with the comparison
    assert len(said) == 1 and "static-seed0 was not refreshed" in said[0]
