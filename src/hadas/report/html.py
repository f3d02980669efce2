"""The report page: one static, self-contained index.html (inline CSS, SVG images beside it,
no script, nothing fetched from the network)."""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from hadas.report.compare import EnergyGain
from hadas.space.dynn import ArchiveEntry

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: right; vertical-align: middle; }
td { white-space: nowrap; } .wide { overflow-x: auto; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
img { max-width: 100%; } pre { background: #f7f7f7; padding: 1em; overflow: auto; font-size: 0.8em; }
.note { color: #555; font-size: 0.9em; } code { background: #f2f2f2; padding: 0 3px; }
"""


def cell(value: Any, left: bool = False) -> str:
    return f"<td{' class=l' if left else ''}>{escape(str(value))}</td>"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], table_id: str = "") -> str:
    """`rows` hold ready-made <td> cells."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "\n".join(f"<tr>{''.join(r)}</tr>" for r in rows)
    ident = f" id={table_id}" if table_id else ""
    return (f"<div class=wide><table{ident}><thead><tr>{head}</tr></thead><tbody>\n{body}\n"
            "</tbody></table></div>")


def plain(value: Any) -> str:
    """A mapping as `key value, key value` (nested ones in parentheses), anything else as str."""
    if isinstance(value, Mapping):
        return ", ".join(f"{k} ({plain(v)})" if isinstance(v, Mapping) else f"{k} {plain(v)}"
                         for k, v in value.items())
    return str(value)


def key_values(items: Mapping[str, Any]) -> str:
    return table(("", ""), ([f"<th class=l>{escape(k)}</th>", cell(plain(v), left=True)]
                            for k, v in items.items()))


def exit_rate_bars(rates: Sequence[float], positions: Sequence[int]) -> str:
    """An inline SVG histogram: the share of samples leaving at each exit (last: final)."""
    w, h, gap = 12, 28, 2
    labels = [f"exit after block {p}" for p in positions] + ["final classifier"]
    bars = "".join(
        f'<rect x="{i * (w + gap)}" y="{h - max(r * h, 0.5):.1f}" width="{w}" '
        f'height="{max(r * h, 0.5):.1f}" fill="{"#1f77b4" if i < len(positions) else "#888"}">'
        f"<title>{escape(label)}: {100 * r:.1f} %</title></rect>"
        for i, (r, label) in enumerate(zip(rates, labels)))
    return (f'<svg class="rates" width="{len(rates) * (w + gap)}" height="{h}" role="img" '
            f'aria-label="exit rates">{bars}</svg>')


def mhz(dvfs_hz: Mapping[str, int]) -> str:
    """`2266/1377/2133`: MHz per domain, in the order of `domains(...)`."""
    return "/".join(f"{v / 1e6:.0f}" for v in dvfs_hz.values())


def dvfs_header(clocks: Sequence[Mapping[str, int]]) -> str:
    """`DVFS MHz cpu/gpu/emc` (the domains of the first DyNN's clocks)."""
    return "DVFS MHz " + "/".join(clocks[0]) if clocks else "DVFS MHz"


def compact(values: Sequence[Any]) -> str:
    return ",".join(str(v) for v in values)


def provenance_text(prov: Mapping[str, str]) -> str:
    """`modelled`, or `latency measured, energy modelled` when they differ."""
    lat, energy = prov.get("latency_ms", "?"), prov.get("energy_mj", "?")
    return lat if lat == energy else f"latency {lat}, energy {energy}"


def pareto_table(archive: Sequence[ArchiveEntry]) -> str:
    headers = ("ID", "top-1 %", "latency ms", "energy mJ", "provenance", "resolution", "width",
               "depth", "kernel", "expand", "exits (after block)", "policy @ threshold",
               dvfs_header([e.dynn.dvfs_hz for e in archive]), "exit rates", "generation")
    rows = []
    for i, e in sorted(enumerate(archive), key=lambda ie: -ie[1].dynn.top1):
        b, d = e.backbone, e.dynn
        rows.append([cell(i), cell(f"{d.top1:.2f}"), cell(f"{d.latency_ms:.3f}"),
                     cell(f"{d.energy_mj:.3f}"), cell(provenance_text(d.provenance), True),
                     cell(b.resolution), cell(compact(b.width), True),
                     cell(compact(b.depth), True), cell(compact(b.kernel_size), True),
                     cell(compact(b.expand_ratio), True),
                     cell(compact(d.plan.positions), True),
                     cell(f"{d.plan.policy} @ {d.plan.to_dict()['threshold']}", True),
                     cell(mhz(d.dvfs_hz), True),
                     f"<td>{exit_rate_bars(d.exit_rates, d.plan.positions)}</td>",
                     cell("" if e.generation is None else e.generation)])
    return table(headers, rows, "pareto")


def breakdown_table(breakdown: Sequence[dict[str, Any]]) -> str:
    headers = ("backbone", "stage", "top-1 %", "energy mJ", "saving vs alone", "latency ms",
               "exits (after block)",
               dvfs_header([d["dvfs_hz"] for row in breakdown for d in row["stages"].values()]),
               "at equal accuracy")
    rows = []
    for row in breakdown:
        alone = row["stages"]["backbone"]["energy_mj"]
        for stage, d in row["stages"].items():
            saving = "" if stage == "backbone" else f"{100 * (1 - d['energy_mj'] / alone):.1f} %"
            rows.append([cell(row["label"], True), cell(stage, True), cell(f"{d['top1']:.2f}"),
                         cell(f"{d['energy_mj']:.3f}"), cell(saving),
                         cell(f"{d['latency_ms']:.3f}"),
                         cell(compact(d["exits"]["positions"]) or "none", True),
                         cell(mhz(d["dvfs_hz"]), True), cell("yes" if d["matched"] else "no")])
    return table(headers, rows, "breakdown")


def gains_table(gains: Mapping[str, tuple[float, EnergyGain]]) -> str:
    """Per baseline mode: its final hypervolume and our energy gain at equal accuracy."""
    def pct(v: float | None) -> str:
        return "—" if v is None else f"{v:.1f} %"
    headers = ("baseline run", "final hypervolume", "energy gain, best", "energy gain, mean",
               "baseline DyNNs matched", "not matched in accuracy")
    rows = [[cell(mode, True), cell(f"{hv:.4f}"), cell(pct(g.max_pct)), cell(pct(g.mean_pct)),
             cell(g.matched), cell(g.unmatched)] for mode, (hv, g) in gains.items()]
    return table(headers, rows, "gains")


def pre_json(data: Any) -> str:
    return f"<pre>{escape(json.dumps(data, indent=1, sort_keys=True, default=str))}</pre>"
