"""`BackboneSpace`: the 28-gene HADAS encoding of backbones and its evolutionary operators.

Genome layout (each gene an index into a candidate list of the supernet config):
`[resolution | width x9 | depth x7 | kernel x7 | expand x4 (mb2..mb5)]`.
The expand ratios of mb1, mb6 and mb7 have one candidate each and are not encoded.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hadas.errors import ConfigError
from hadas.space.genome import GenomeLike
from hadas.space.backbone import Backbone
from hadas.space.skeleton import Skeleton, build_skeleton
from hadas.space.supernet_spec import SEARCHED_EXPAND_STAGES, SupernetSpec

N_GENES = 28


@dataclass(frozen=True)
class Gene:
    """One gene: its name (the arch field it sets) and its candidate values."""

    name: str
    choices: tuple[int, ...]


class BackboneSpace:
    """Encode, decode, sample, mutate and cross over backbones of one supernet."""

    def __init__(self, spec: SupernetSpec):
        self.spec = spec
        mbs = spec.mb_stages
        genes = [Gene("resolution", spec.resolutions)]
        genes += [Gene(f"width.{st.name}", st.widths) for st in spec.stages]
        genes += [Gene(f"depth.{st.name}", st.depths) for st in mbs]
        genes += [Gene(f"kernel_size.{st.name}", st.kernels) for st in mbs]
        genes += [Gene(f"expand_ratio.{st.name}", st.expand_ratios) for st in mbs
                  if st.name in SEARCHED_EXPAND_STAGES]
        assert len(genes) == N_GENES
        self.genes: tuple[Gene, ...] = tuple(genes)
        self._fixed_expand = {st.name: st.expand_ratios[0] for st in mbs
                              if st.name not in SEARCHED_EXPAND_STAGES}

    @property
    def n_choices(self) -> np.ndarray:
        """Number of candidates per gene (upper bounds + 1 of the integer genome)."""
        return np.array([len(g.choices) for g in self.genes], dtype=np.int64)

    @property
    def size(self) -> int:
        """Number of distinct backbones."""
        return int(np.prod(self.n_choices.astype(object)))

    # -- encoding -------------------------------------------------------------------------------
    def decode(self, genome: GenomeLike) -> Backbone:
        g = [int(x) for x in genome]
        if len(g) != N_GENES:
            raise ConfigError("genome", f"needs {N_GENES} genes, got {len(g)}")
        for gene, x in zip(self.genes, g):
            if not 0 <= x < len(gene.choices):
                raise ConfigError(f"genome.{gene.name}", f"index {x} out of range",
                                  range(len(gene.choices)))
        v = [gene.choices[x] for gene, x in zip(self.genes, g)]
        expand, searched = [], iter(v[24:28])
        for st in self.spec.mb_stages:
            expand.append(next(searched) if st.name in SEARCHED_EXPAND_STAGES
                          else self._fixed_expand[st.name])
        return Backbone(resolution=v[0], width=tuple(v[1:10]), depth=tuple(v[10:17]),
                        kernel_size=tuple(v[17:24]), expand_ratio=tuple(expand))

    def encode(self, backbone: Backbone) -> np.ndarray:
        self.validate(backbone)
        values = self._flat_values(backbone)
        return np.array([gene.choices.index(x) for gene, x in zip(self.genes, values)],
                        dtype=np.int64)

    def validate(self, backbone: Backbone) -> Backbone:
        """Raise ConfigError naming the first field whose value is not a candidate."""
        for gene, x in zip(self.genes, self._flat_values(backbone)):
            if x not in gene.choices:
                raise ConfigError(f"arch.{gene.name}", f"{x} is not a candidate", gene.choices)
        for st, ratio in zip(self.spec.mb_stages, backbone.expand_ratio):
            if st.name in self._fixed_expand and ratio != self._fixed_expand[st.name]:
                raise ConfigError(f"arch.expand_ratio.{st.name}", f"{ratio} is not a candidate",
                                  [self._fixed_expand[st.name]])
        return backbone

    def _flat_values(self, b: Backbone) -> list[int]:
        searched = [r for st, r in zip(self.spec.mb_stages, b.expand_ratio)
                    if st.name in SEARCHED_EXPAND_STAGES]
        return [b.resolution, *b.width, *b.depth, *b.kernel_size, *searched]

    def skeleton(self, backbone: Backbone) -> Skeleton:
        return build_skeleton(self.spec, self.validate(backbone))

    # -- named backbones ------------------------------------------------------------------------
    def smallest(self) -> Backbone:
        return self.decode([0] * N_GENES)

    def largest(self) -> Backbone:
        return self.decode(self.n_choices - 1)

    # -- operators (explicit seeded generator everywhere) ---------------------------------------
    def sample_genome(self, rng: np.random.Generator) -> np.ndarray:
        """Uniform over every gene's candidates."""
        return rng.integers(0, self.n_choices)

    def sample(self, rng: np.random.Generator) -> Backbone:
        return self.decode(self.sample_genome(rng))

    def mutate(self, genome: GenomeLike, rng: np.random.Generator, prob: float) -> np.ndarray:
        """Resample each gene with probability `prob`, always to a *different* candidate."""
        g = np.array(genome, dtype=np.int64)
        n = self.n_choices
        hit = (rng.random(N_GENES) < prob) & (n > 1)
        # an offset in 1..n-1 added modulo n picks uniformly among the other candidates
        offsets = rng.integers(1, np.maximum(n, 2))
        g[hit] = (g[hit] + offsets[hit]) % n[hit]
        return g

    def crossover(self, a: GenomeLike, b: GenomeLike, rng: np.random.Generator,
                  p: float = 0.8) -> np.ndarray:
        """Uniform crossover: each gene from `a` with probability p, else from `b`."""
        ga, gb = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        return np.where(rng.random(N_GENES) < p, ga, gb)
