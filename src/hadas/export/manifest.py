"""`manifest.json` and `README.md` of a bundle: what it holds, what to expect, how to run it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from hadas.exits import file_checksum

SCHEMA = "hadas-dynn-bundle/1"


def sha256_file(path: str | Path) -> str:
    """Full sha256 (hex) of a file."""
    return file_checksum(path, length=64)


def file_list(folder: Path, skip: tuple[str, ...] = ("manifest.json",)) -> list[dict[str, Any]]:
    """Every file under `folder` (sorted, relative paths) with its sha256 and size."""
    return [{"path": p.relative_to(folder).as_posix(), "sha256": sha256_file(p),
             "bytes": p.stat().st_size}
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name not in skip]


def dvfs_block(dvfs_hz: dict[str, int]) -> dict[str, Any]:
    """The DVFS setting in Hz and MHz per domain, and the command that applies it on the board."""
    hz = {d: int(v) for d, v in dvfs_hz.items()}
    command = ("hadas dvfs --set " + ",".join(f"{d}={v}" for d, v in hz.items())) if hz else None
    return {"hz": hz, "mhz": {d: v / 1e6 for d, v in hz.items()}, "apply": command}


def input_spec(shape_chw: tuple[int, int, int], resolution: int, mean: tuple[float, ...],
               std: tuple[float, ...]) -> dict[str, Any]:
    """What `program.pt` takes, and what the caller must do before."""
    c, h, w = shape_chw
    return {
        "shape": ["N", c, h, w], "dtype": "float32", "layout": "NCHW, RGB",
        "mean": list(mean), "std": list(std),
        "caller_does": ("per-channel normalisation of the raw 0..255 pixel values, exactly as "
                        "hadas.data.TensorLoader: x = (pixels - 255 * mean) / (255 * std) "
                        "(or call program.from_uint8(images) with the raw uint8 images, which "
                        "does exactly that)"),
        "program_does": (f"bicubic resize from {h}x{w} to {resolution}x{resolution} (inside "
                         "segment 0), then the network" if (h, w) != (resolution, resolution)
                         else "nothing else: the network directly"),
        "image_size_note": f"images must be {h}x{w} (the dataset's size the program was traced "
                           "at); other sizes are not supported",
        "returns": ("(predictions int64 [N], exit_index int64 [N]): exit_index 0..k-1 is the "
                    "early exit a sample left at, k the final classifier"),
    }


def readme(manifest: dict[str, Any]) -> str:
    """A short README for the bundle folder."""
    spec = manifest["input"]
    positions = manifest["exit_plan"]["positions"]
    exp = manifest["expected"]
    apply = manifest["apply_dvfs"] or "(no DVFS setting recorded)"
    onnx = manifest["onnx"]
    onnx_text = ("\n".join(f"- `{f['path']}`: {f['describes']} ({f['input']} -> "
                           f"{', '.join(f['outputs'])})" for f in onnx["files"])
                 or "none: " + "; ".join(onnx["reasons"]))
    prov = exp["provenance"]
    return f"""# DyNN bundle: {manifest['run']['name']} ({manifest['run']['mode']}), archive entry {manifest['run']['pick']}

Backbone at resolution {manifest['arch']['resolution']} with early exits after blocks {positions}
({manifest['exit_plan']['policy']}, threshold {manifest['exit_plan']['threshold']}), platform
`{manifest['platform']}`. Expected from the run: top-1 {exp['top1']:.2f} %,
latency {exp['latency_ms']:.3f} ms ({prov.get('latency_ms', '?')}),
energy {exp['energy_mj']:.3f} mJ ({prov.get('energy_mj', '?')}).

## Run it (Python, only torch needed)

```python
import torch
program = torch.jit.load("program.pt", map_location="cpu")   # or "cuda"
# images: uint8 (N, {spec['shape'][1]}, {spec['shape'][2]}, {spec['shape'][3]}), raw 0..255 pixels
x = (images.float() - 255 * mean) / (255 * std)              # what the caller does
pred, exit_index = program(x)                                # exit_index: 0..{len(positions) - 1} early, {len(positions)} final
pred, exit_index = program.from_uint8(images)                # the same, normalising inside
```

with `mean = torch.tensor({spec['mean']}).view(1, 3, 1, 1)` and
`std = torch.tensor({spec['std']}).view(1, 3, 1, 1)` (the training split's statistics).
Inside: {spec['program_does']}.

Samples whose exit policy fires stop at that exit; only the others run the next segment.
Works at any batch size, batch 1 included.

## Apply the DVFS setting on the board

```
{apply}
```

## ONNX files (batch axis dynamic; the exit logic is yours to run)

{onnx_text}

Exit rule: `{manifest['exit_plan']['rule']}`.
Every file's sha256 is in `manifest.json`.
"""
