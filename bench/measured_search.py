"""The cost of measuring inside the search: `search.hardware: measured` against `model` on the
same budget, config and supernet, on this machine. A first model-based run trains the exit
banks both timed runs then reuse, so the difference is measurement (and its storage) alone.

    .venv/bin/python bench/measured_search.py --supernet runs/demo/supernet/supernet.pt
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml

from hadas import api

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "tiny-digits.yaml"


def run(config: Path, supernet: Path, run_dir: Path) -> tuple[float, object]:
    t0 = time.perf_counter()
    result, _ = api.search(config, run_dir, device="cpu", progress=False,
                           say=lambda line: None, supernet=supernet)
    return time.perf_counter() - t0, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--supernet", type=Path, required=True, help="a trained checkpoint of "
                        "configs/tiny-digits.yaml (`make demo` writes runs/demo/supernet)")
    parser.add_argument("--platform", default="local")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = yaml.safe_load(CONFIG.read_text())
        configs = {}
        for hardware in ("model", "measured"):
            data["search"].update(platform=args.platform, hardware=hardware)
            configs[hardware] = root / f"{hardware}.yaml"
            configs[hardware].write_text(yaml.safe_dump(data))
        # exit banks go beside the checkpoint: a copy keeps the caller's folder untouched
        supernet = root / "supernet" / "supernet.pt"
        supernet.parent.mkdir()
        supernet.write_bytes(args.supernet.read_bytes())
        warm, _ = run(configs["model"], supernet, root / "warm")
        model_s, model = run(configs["model"], supernet, root / "model")
        measured_s, measured = run(configs["measured"], supernet, root / "measured")
    def line(name: str, seconds: float, result: object) -> float:
        training = result.stats.seconds.get("exit_training", 0.0)  # type: ignore[attr-defined]
        print(f"  {name:<20}: {seconds:7.1f} s wall, of which exit training {training:6.1f} s; "
              f"the rest {seconds - training:6.1f} s; {len(result.archive)} archived DyNNs")  # type: ignore[attr-defined]
        return seconds - training

    print(f"platform {args.platform}, the tiny-digits budget (exit banks of the first, untimed "
          f"run: {warm:.1f} s; banks a later run needs anew are its exit training)")
    rest_model = line("model-based search", model_s, model)
    rest_measured = line("measured search", measured_s, measured)
    print(f"  measurement overhead (without exit training): {rest_measured - rest_model:+.1f} s "
          f"({rest_measured / rest_model:.2f}x)")

if __name__ == "__main__":
    main()
