"""Do two runs of the same command give the same search result? For refactors: run `hadas demo`
(or any search) on the old and the new code into two folders, then compare them here. Timings,
paths and dates are left out; everything the search found must be equal.

    PYTHONPATH=/tmp/old/src .venv/bin/hadas demo --config configs/tiny-digits.yaml --out /tmp/a
    .venv/bin/hadas demo --config configs/tiny-digits.yaml --out /tmp/b
    .venv/bin/python bench/same_result.py /tmp/a /tmp/b
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

SAME = ("archive", "hypervolume", "reference_point", "breakdown", "evaluated", "config", "mode",
        "seed", "platform", "config_fingerprint")
SPENT = ("backbones", "ioes", "dynns")  # progress: what was evaluated, not how long it took


def found(result: dict[str, Any]) -> dict[str, Any]:
    """What the search found, without timings."""
    scored = [{k: v for k, v in s.items() if k != "compute_s"} for s in result["scored"]]
    progress = [{k: p[k] for k in ("generation", "hypervolume", *SPENT)}
                for p in result["progress"]]
    return {**{k: result.get(k) for k in SAME}, "scored": scored, "progress": progress,
            "computed": result["evaluations"]["computed"],
            "hardware": result["hardware"]["fingerprint"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    args = parser.parse_args()
    runs = sorted(p.parent.name for p in args.a.glob("*/result.json"))
    if not runs:
        print(f"no runs (*/result.json) under {args.a}")
        return 2
    same = True
    for run in runs:
        a, b = (found(json.loads((root / run / "result.json").read_text()))
                for root in (args.a, args.b))
        differ = [k for k in a if a[k] != b[k]]
        same &= not differ
        print(f"{run}: {'same' if not differ else 'DIFFERENT: ' + ', '.join(differ)} "
              f"({len(a['archive'])} archived DyNNs, final hypervolume {a['hypervolume'][-1]:.6f})")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
