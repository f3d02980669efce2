"""What a user waits for after a search: the HTML report (figures + page) and the export of one
DyNN (rebuild, TorchScript program checked on the evaluation split, ONNX files checked with
onnxruntime), measured side by side on the same run.

    .venv/bin/python bench/report_export.py [--run-dir runs/tiny-digits/hadas-seed0] [--pick 0]

The run directory is made by `hadas search` first when it is missing (embedded default).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from hadas import api


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run-dir", default="runs/tiny-digits/hadas-seed0")
    ap.add_argument("--pick", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    run_dir = Path(args.run_dir)
    if not (run_dir / "result.json").is_file():
        api.search(run_dir=run_dir, device="cpu", progress=False, say=lambda line: None)
    archive = api.load_result(run_dir)["archive"]
    with tempfile.TemporaryDirectory() as tmp:
        report = [timed(lambda: api.write_report(run_dir, Path(tmp) / "report"))
                  for _ in range(args.repeats)]
        export = timed(lambda: api.export_dynn(run_dir, args.pick, Path(tmp) / "bundle"))
        again = timed(lambda: api.export_dynn(run_dir, args.pick, Path(tmp) / "bundle"))
    print(f"{run_dir}: {len(archive)} Pareto DyNNs")
    print(f"hadas report: median {statistics.median(report):.2f} s over {args.repeats} "
          f"(min {min(report):.2f}, max {max(report):.2f})")
    print(f"hadas export --pick {args.pick}: {export:.1f} s first, {again:.1f} s again "
          f"({export / statistics.median(report):.0f}x the report)")


if __name__ == "__main__":
    main()
