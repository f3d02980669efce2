"""Evaluation of candidates: backbone accuracy by weight inheritance (more evaluators later)."""
from hadas.evaluation.backbone import (BackboneEvaluation, evaluate_backbone, evaluation_loader,
                                       top1_accuracy)
from hadas.training.inheritance import reestimate_bn

__all__ = ["BackboneEvaluation", "evaluate_backbone", "evaluation_loader", "reestimate_bn",
           "top1_accuracy"]
