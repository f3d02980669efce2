"""Search spaces: supernet spec, backbone genome and operators, and the pure-Python skeleton."""
from hadas.space.backbone import Backbone
from hadas.space.backbone_space import N_GENES, BackboneSpace, Gene
from hadas.space.exit_dvfs_space import ExitDvfsSpace
from hadas.space.exits import (FIRST_EXIT_BLOCK, ExitPlan, Segment, backbone_cuts,
                               candidate_positions,
                               exit_head_layers, segments)
from hadas.space.policies import POLICIES, ExitPolicy
from hadas.space.references import ATTENTIVENAS, REFERENCE_NAMES, reference_backbone, resolve_arch
from hadas.space.skeleton import Block, Layer, Skeleton, build_skeleton, make_divisible
from hadas.space.supernet_spec import STAGES, StageSpec, SupernetSpec

__all__ = ["ATTENTIVENAS", "ExitDvfsSpace", "FIRST_EXIT_BLOCK", "N_GENES", "POLICIES", "ExitPlan", "ExitPolicy", "Segment",
           "backbone_cuts", "candidate_positions", "exit_head_layers", "segments", "REFERENCE_NAMES", "STAGES", "Backbone", "BackboneSpace",
           "Block", "Gene", "Layer", "Skeleton", "StageSpec", "SupernetSpec", "build_skeleton",
           "make_divisible", "reference_backbone", "resolve_arch"]
