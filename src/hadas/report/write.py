"""`write_report`: the HTML report of a finished run directory."""
from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from hadas.atomic import write_atomic
from hadas.report import html
from hadas.report.compare import dvfs_verdict_lines, energy_gain, validation_figures
from hadas.report.plots import breakdown_plot, front_plot, hypervolume_plot, validation_plot
from hadas.report.run import RunData, load_run
from hadas.versions import package_versions

def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write `index.html` and its SVG figures to `out` (default RUN_DIR/report); its path."""
    run = load_run(run_dir)
    out = Path(out) if out is not None else run.directory / "report"
    breakdown = run.result.get("breakdown")
    page = render_page(run, has_breakdown=bool(breakdown))  # before anything is written
    out.mkdir(parents=True, exist_ok=True)
    front_plot(run, out / "front.svg")
    hypervolume_plot(run, out / "hypervolume.svg")
    if breakdown:
        breakdown_plot(breakdown, out / "breakdown.svg")
    if run.result.get("validation"):
        validation_plot(run.result["validation"], out / "validation.svg")
    write_atomic(out / "index.html", lambda f: f.write(page), binary=False)
    return out / "index.html"


def render_page(run: RunData, has_breakdown: bool) -> str:
    r = run.result
    final_hv = r["hypervolume"][-1] if r["hypervolume"] else float("nan")
    title = f"hadas report: {r['name']} / {r['mode']} / seed {r['seed']}"
    costs = sorted({f"{k.split('_')[0]} {v}" for e in run.archive
                    for k, v in e.dynn.provenance.items()})
    parts = [
        f"<h1>{escape(title)}</h1>",
        f"<p>{len(run.archive)} Pareto DyNNs on <b>{escape(r['platform'])}</b>, final "
        f"hypervolume {final_hv:.4f}. Latency and energy are expected values per inference over "
        f"the evaluation split, <b>{escape(', '.join(costs) or 'no DyNN')}</b> (modelled: "
        "the platform's analytical model; calibrated: fitted to measurements; measured: on the "
        "board).</p>",
        "<h2 id=front-section>Pareto front</h2>",
        '<img id=front src="front.svg" alt="Pareto front: top-1 error against energy and '
        'latency">',
        "<h2 id=hv-section>Hypervolume per generation</h2>",
        '<img id=hypervolume src="hypervolume.svg" alt="hypervolume per generation">',
        f"<p class=note>Objectives divided by the reference point "
        f"{escape(str(r.get('reference_point')))} (error %, latency ms, energy mJ), then the "
        "hypervolume dominated up to (1, 1, 1).</p>",
        "<h2 id=table-section>Pareto DyNNs</h2>",
        "<p class=note>ID: the DyNN's index in result.json, for "
        f"<code>hadas export {escape(str(run.directory))} --pick ID --out DIR</code>. "
        "Exit rates: share of samples leaving at each exit, the last bar (grey) the final "
        "classifier.</p>",
        html.pareto_table(run.archive),
        "<h2 id=energy-section>Energy: backbone alone, with early exits, with early exits + "
        "DVFS</h2>",
        *energy_section(run, has_breakdown),
        *validation_section(run.result.get("validation")),
        "<h2 id=provenance-section>Run provenance</h2>",
        html.key_values(provenance(run)),
        "<details><summary>Configuration (the run's whole config)</summary>",
        html.pre_json(r.get("config", "not recorded (older run: rerun hadas search)")),
        "</details>",
    ]
    body = "\n".join(parts)
    return ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width, initial-scale=1">'
            f'<link rel=icon href="data:,"><title>{escape(title)}</title>'
            f"<style>{html.CSS}</style></head>\n<body>\n{body}\n</body></html>\n")


def validation_section(v: dict[str, Any] | None) -> list[str]:
    """Predicted against measured (`hadas validate`), when the run has been validated."""
    if not v:
        return []
    rows = [[html.cell(r["pick"]), html.cell(f"{r['predicted_ms']:.3f}"),
             html.cell(f"{r['measured_ms']:.3f}"), html.cell(f"{r['static_ms']:.3f}"),
             html.cell(f"{r['speedup']:.2f}x"), html.cell(f"{r['top1']:.2f}"),
             html.cell("yes" if r["nondominated_measured"] else "no")] for r in v["dynns"]]
    return ["<h2 id=validation-section>Predicted against measured (hadas validate)</h2>",
            '<img id=validation src="validation.svg" alt="predicted against measured latency">',
            html.key_values(validation_figures(v)),
            html.table(("ID", "predicted ms", "measured ms", "static backbone ms", "speed-up",
                        "top-1 %", "non-dominated once measured"), rows, "validation")]


def energy_section(run: RunData, has_breakdown: bool) -> list[str]:
    parts = []
    if has_breakdown:
        parts += ['<img id=breakdown src="breakdown.svg" alt="energy of backbones alone, with '
                  'exits, with exits and DVFS">',
                  "<p class=note>For the smallest and largest reference backbones and the "
                  "backbones of the archive's most accurate and least-energy DyNNs: the backbone "
                  "alone at the reference clocks; the least-energy DyNN of its exits-only inner "
                  "front (reference clocks) at equal or better accuracy; the same over its "
                  "exits + DVFS inner front. 'no' in the last column: no DyNN matched the "
                  "backbone's accuracy, the most accurate one is shown.</p>",
                  html.breakdown_table(run.result["breakdown"])]
        verdicts = dvfs_verdict_lines(run.result["breakdown"])
        if verdicts:
            parts.append("<ul id=dvfs-verdicts>" + "".join(f"<li>{escape(v)}</li>"
                                                          for v in verdicts) + "</ul>")
    else:
        parts.append("<p>No breakdown in this run (written by `hadas search --mode hadas`).</p>")
    gains = {mode: (run.baselines[mode]["hypervolume"][-1],
                    energy_gain(run.archive, run.baseline_archive(mode)))
             for mode in sorted(run.baselines, key=lambda m: strongest_first(run.baselines[m]))}
    if gains:
        parts += [f"<h3>Energy gain of {escape(run.result['mode'])} at equal accuracy</h3>",
                  "<p class=note>For each DyNN of the baseline's archive, the least-energy DyNN "
                  "of this run with at least its top-1: 1 − E / E<sub>baseline</sub>. Baseline "
                  "DyNNs more accurate than all of ours count as not matched, never as "
                  "gains.</p>",
                  html.gains_table(gains)]
    if "conventional" not in gains:
        parts.append(f"<p class=note>No <code>conventional</code> run of seed "
                     f"{run.result['seed']} beside this one: run <code>hadas search --mode "
                     "conventional</code> with the same config and seed, then <code>hadas report"
                     "</code> again, for the paper's energy gain at equal accuracy.</p>")
    return parts


def strongest_first(baseline: dict) -> tuple[float, str]:
    """Baselines by final hypervolume, largest first (no list of modes to keep in step)."""
    return (-baseline["hypervolume"][-1], baseline["mode"])


def provenance(run: RunData) -> dict[str, Any]:
    r = run.result
    hw = r.get("hardware", {})
    ev = r.get("evaluations", {})
    software = dict(r.get("software", {}))
    software["matplotlib (report)"] = package_versions("matplotlib")["matplotlib"]
    return {
        "run directory": str(run.directory), "name": r["name"], "mode": r["mode"],
        "seed": r["seed"], "config fingerprint": r.get("config_fingerprint"),
        "platform": f"{r['platform']}: {hw.get('description', '')}",
        "platform fingerprint / file": f"{hw.get('fingerprint')} / {hw.get('source')}",
        "hardware model provenance": hw.get("provenance", "not recorded"),
        "calibration": hw.get("calibration") or "none (uncalibrated model)",
        "what costed the DyNNs": costs_text(hw.get("costs")),
        "supernet, exit banks, evaluation device": r.get("supernet", "not recorded"),
        "wall time (s)": r.get("seconds"),
        "compute time per phase (s)": {k: round(v, 2) for k, v in ev.get("seconds", {}).items()},
        "evaluations computed": ev.get("computed", "not recorded"),
        "evaluations reused from the run database": ev.get("cached", "not recorded"),
        "baselines beside it": ", ".join(sorted(run.baselines)) or "none",
        "software": software,
    }


def costs_text(costs: dict[str, Any] | None) -> str:
    """`model`, or the measuring device with the clocks it could not set (search.hardware)."""
    if not costs or costs.get("backend") == "model":
        return "the platform's model (search.hardware: model)"
    device = costs.get("device", {})
    where = device.get("agent") or device.get("device") or "this machine"
    note = costs.get("clocks_note") or "every clock settable"
    return (f"measured on {where} ({costs.get('repeats')} timed runs per piece); {note}")

