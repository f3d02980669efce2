"""The report's figures (matplotlib, SVG, reproducible: no date, fixed ids)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure

from hadas.atomic import write_atomic
from hadas.report.run import RunData
from hadas.space.dynn import ArchiveEntry, DynnResult, score

BASELINE_STYLES = {"conventional": ("tab:orange", "s"), "static": ("tab:gray", "v"),
                   "exits-only": ("tab:green", "^"), "dvfs-only": ("tab:purple", "D"),
                   "random": ("tab:brown", "P"), "ioe": ("tab:olive", "X")}
STAGE_COLOURS = {"backbone": "tab:gray", "exits": "tab:blue", "exits+dvfs": "tab:green"}
STAGE_LABELS = {"backbone": "backbone alone", "exits": "+ early exits",
                "exits+dvfs": "+ early exits + DVFS"}


def save(fig: Figure, path: Path) -> Path:
    with matplotlib.rc_context({"svg.hashsalt": "hadas", "svg.fonttype": "none"}):
        write_atomic(path, lambda f: fig.savefig(f, format="svg", metadata={"Date": None},
                                                 bbox_inches="tight"))
    return path


def _points(dynns: Sequence[Mapping[str, Any] | DynnResult | ArchiveEntry], key: str
            ) -> tuple[list[float], list[float]]:
    """(cost, top-1 error) of records or score dicts."""
    return [score(d, key) for d in dynns], [100.0 - score(d, "top1") for d in dynns]


def front_plot(run: RunData, path: Path) -> Path:
    """Error vs energy and error vs latency: evaluated DyNNs and backbones behind, the archive
    highlighted (labelled with its IDs), baselines of the same seed overlaid."""
    fig = Figure(figsize=(11, 4.4))
    axes = fig.subplots(1, 2, sharey=True)
    archive = [e.dynn for e in run.archive]
    for ax, key, unit in ((axes[0], "energy_mj", "energy per inference (mJ)"),
                          (axes[1], "latency_ms", "latency per inference (ms)")):
        if run.evaluated:
            ax.scatter(*_points(run.evaluated, key), s=8, c="lightgray",
                       label=f"DyNNs of the IOE fronts ({len(run.evaluated)})")
        if run.backbones:
            ax.scatter(*_points(run.backbones, key), s=14, marker="x", c="darkgray",
                       label="backbones alone, reference clocks")
        if run.result.get("breakdown"):
            extra = [d for row in run.result["breakdown"] for stage, d in row["stages"].items()
                     if stage != "backbone"]
            ax.scatter(*_points(extra, key), s=30, marker="d", facecolors="none",
                       edgecolors="tab:blue", label="energy-breakdown DyNNs (after the search)")
        for mode, other in sorted(run.baselines.items()):
            colour, marker = BASELINE_STYLES.get(mode, ("black", "o"))
            ax.scatter(*_points(run.baseline_archive(mode), key), s=30,
                       marker=marker, facecolors="none", edgecolors=colour,
                       label=f"{mode} archive")
        order = sorted(range(len(archive)), key=lambda i: score(archive[i], key))
        xs, ys = _points([archive[i] for i in order], key)
        ax.step(xs, ys, where="post", c="tab:red", lw=1, alpha=0.6)
        ax.scatter(xs, ys, s=40, c="tab:red", edgecolors="black", zorder=3,
                   label=f"{run.result['mode']} archive ({len(archive)})")
        for i, x, y in zip(order, xs, ys):
            ax.annotate(str(i), (x, y), xytext=(4, 3), textcoords="offset points", fontsize=7)
        provenance = sorted({d.provenance.get(key, "?") for d in archive})
        ax.set_xlabel(f"{unit}, {'/'.join(provenance)}")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("top-1 error (%)")
    axes[0].legend(fontsize=7, loc="upper right")
    fig.suptitle(f"Pareto front: {run.result['name']} / {run.result['mode']} / seed "
                 f"{run.result['seed']} on {run.result['platform']}", fontsize=10)
    return save(fig, path)


def hypervolume_plot(run: RunData, path: Path) -> Path:
    """Hypervolume of the archive after each generation; baselines' final values as lines."""
    fig = Figure(figsize=(6, 3.4))
    ax = fig.subplots()
    hv = run.result["hypervolume"]
    ax.plot(range(1, len(hv) + 1), hv, marker="o", c="tab:red", label=run.result["mode"])
    for mode, other in sorted(run.baselines.items()):
        if other.get("reference_point") == run.result.get("reference_point"):
            colour, _ = BASELINE_STYLES.get(mode, ("black", "o"))
            ax.axhline(other["hypervolume"][-1], ls="--", c=colour, lw=1,
                       label=f"{mode} (final)")
    ax.set_xlabel("generation")
    ax.set_ylabel("hypervolume (normalised)")
    ax.set_xticks(range(1, len(hv) + 1))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save(fig, path)


def breakdown_plot(breakdown: Sequence[dict[str, Any]], path: Path) -> Path:
    """Energy of each backbone alone, with exits, with exits + DVFS (bars, top-1 on top)."""
    fig = Figure(figsize=(1.9 * len(breakdown) + 2.5, 3.8))
    ax = fig.subplots()
    width = 0.8 / len(STAGE_LABELS)
    for k, stage in enumerate(STAGE_LABELS):
        xs, heights, tops = [], [], []
        for i, row in enumerate(breakdown):
            if stage in row["stages"]:
                d = row["stages"][stage]
                xs.append(i + (k - 1) * width)
                heights.append(d["energy_mj"])
                tops.append(f"{d['top1']:.1f}" + ("" if d["matched"] else "*"))
        bars = ax.bar(xs, heights, width, color=STAGE_COLOURS[stage], label=STAGE_LABELS[stage])
        ax.bar_label(bars, tops, fontsize=6, padding=1)
    ax.set_xticks(range(len(breakdown)), [row["label"] for row in breakdown], fontsize=8)
    ax.set_ylabel("energy per inference (mJ)")
    ax.set_title("energy at equal accuracy (numbers: top-1 %; * less accurate than the "
                 "backbone)", fontsize=8)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    return save(fig, path)


def validation_plot(validation: dict[str, Any], path: Path) -> Path:
    """Predicted against measured latency per DyNN (`hadas validate`), y = x dashed; the
    DyNNs still non-dominated once measured filled."""
    fig = Figure(figsize=(5.2, 4.4))
    ax = fig.subplots()
    rows = validation["dynns"]
    for front, face, label in ((True, "tab:red", "non-dominated once measured"),
                               (False, "none", "dominated once measured")):
        chosen = [r for r in rows if r["nondominated_measured"] == front]
        ax.scatter([r["predicted_ms"] for r in chosen], [r["measured_ms"] for r in chosen],
                   s=24, facecolors=face, edgecolors="tab:red" if front else "tab:gray",
                   label=label)
    values = [v for r in rows for v in (r["predicted_ms"], r["measured_ms"])]
    if values:
        lo, hi = min(values), max(values)
        ax.plot([lo, hi], [lo, hi], ls="--", c="black", lw=0.8, label="measured = predicted")
    ax.set_xlabel(f"predicted latency (ms), {'/'.join(validation['latency_provenance'])}")
    ax.set_ylabel(f"measured latency (ms), {validation['device']}, batch {validation['batch']}")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return save(fig, path)

