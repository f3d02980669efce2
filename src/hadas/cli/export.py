"""`hadas export RUN_DIR --pick ID --out DIR`: a deployable bundle of one searched DyNN."""
from __future__ import annotations

import argparse
import json
import sys

from hadas import api


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="deployable bundle of one DyNN of a finished search run "
                                      "(TorchScript program, ONNX pieces, manifest, DVFS command)")
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory holding result.json")
    p.add_argument("--pick", type=int, required=True,
                   help="0-based index into result.json's archive (see `hadas search` output)")
    p.add_argument("--out", required=True, help="bundle folder (created; an earlier bundle there "
                                                "is replaced)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto (default: cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    p.set_defaults(func=_export)

    v = sub.add_parser("validate", help="run every archive DyNN of a finished search for real "
                       "on this machine and compare with the search's predictions")
    v.add_argument("run_dir", metavar="RUN_DIR", help="run directory holding result.json")
    v.add_argument("--device", default="cpu", help="cpu | cuda | auto (default: cpu)")
    v.add_argument("--batch", type=int, default=1, help="inference batch size (default: 1)")
    v.add_argument("--agent", help="a device agent URL: segments measured on its board, "
                   "composed with the exit rates of real inference here")
    v.add_argument("--token-file", help="with --agent: the file holding its bearer token")
    v.add_argument("--quiet", action="store_true", help="no progress messages")
    v.set_defaults(func=_validate)


def _export(args: argparse.Namespace) -> int:
    quiet = args.quiet or args.json
    say = (lambda s: None) if quiet else (lambda s: print(s, file=sys.stderr))
    m = api.export_dynn(args.run_dir, args.pick, args.out, args.device, say=say,
                        progress=not quiet)
    if args.json:
        print(json.dumps(m, indent=1))
        return 0
    v = m["verification"]
    got, run = v["program_on_eval_split"], v["run"]
    plan = m["exit_plan"]
    print(f"{args.out}: DyNN {args.pick} of {m['run']['name']} ({m['run']['mode']}), exits after "
          f"blocks {plan['positions']} ({plan['policy']}, threshold {plan['threshold']})")
    state = "reproduces" if v["program_matches_run"] else "DOES NOT reproduce"
    print(f"  program.pt {state} the run: top-1 {got['top1']:.2f}% (run {run['top1']:.2f}%), "
          f"exit rates {[round(r, 4) for r in got['exit_rates']]}")
    onnx = m["onnx"]
    if onnx["status"] == "ok":
        print(f"  ONNX: {len(onnx['files'])} files (segments and exit heads, dynamic batch)")
    else:
        print(f"  ONNX {onnx['status']}: " + "; ".join(onnx["reasons"]))
    if "onnxruntime_check" in onnx:
        print(f"  {onnx['onnxruntime_check']}")
    bad = [f["path"] for f in onnx["files"] if f.get("onnxruntime_matches") is False]
    if bad:
        print(f"  warning: onnxruntime disagrees with torch on {', '.join(bad)}")
    if m["apply_dvfs"]:
        print(f"  apply the DVFS setting on the board: {m['apply_dvfs']}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    say = (lambda s: None) if args.quiet else (lambda s: print(s, file=sys.stderr))
    v = api.validate_run(args.run_dir, args.device, args.batch, say=say, agent=args.agent,
                         token_file=args.token_file)
    for label, figure in api.validation_figures(v).items():
        print(f"{label}: {figure}")
    return 0
