"""Evaluation of candidates: backbone accuracy by weight inheritance (more evaluators later)."""
from hadas.evaluation.backbone import (BackboneEvaluation, evaluate_backbone, recalibrate_bn,
                                       top1_accuracy)

__all__ = ["BackboneEvaluation", "evaluate_backbone", "recalibrate_bn", "top1_accuracy"]
