"""Deployable bundles of a searched DyNN: a TorchScript early-exit program, ONNX pieces, and a
manifest with the run's expected numbers and the DVFS command."""
from hadas.export.bundle import write_bundle
from hadas.export.manifest import dvfs_block, sha256_file
from hadas.export.pieces import HeadOutputs, Pieces, SegmentModule, split_network
from hadas.export.program import EarlyExitProgram, build_program, check_exportable
from hadas.export.source import ExportError, PickedDynn, pick_dynn, rebuild

__all__ = ["EarlyExitProgram", "ExportError", "HeadOutputs", "PickedDynn", "Pieces", "SegmentModule",
           "build_program", "check_exportable", "dvfs_block", "pick_dynn", "rebuild",
           "sha256_file", "split_network", "write_bundle"]
