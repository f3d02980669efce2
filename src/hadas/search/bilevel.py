"""The HADAS bi-level search: the outer engine (OOE) over backbones, the inner engine (IOE)
over exits + DVFS for the promising ones, and a global archive of non-dominated DyNNs.

Per outer generation:
1. score the pool (parents + new backbones): top-1 and static latency/energy (no exits,
   reference clocks);
2. first survival: NSGA-II rank and crowding keeps ceil(population x survival_ratio) of them;
3. run the IOE of each survivor (its exit bank is trained once);
4. second survival (closing the loop): a survivor's outer rank is the best non-dominated rank
   any of its DyNNs reaches in the union of this generation's IOE fronts, ties broken by the
   hypervolume of its own front (larger first); the best ceil(population x survival_ratio / 2)
   become parents;
5. the archive keeps every non-dominated DyNN found so far; breed the next population.

The engines are here; evaluations go through the driver (`driver.py`: run database, executor,
counts), the archive is merged and measured in `archive.py`, and `modes.py` maps each search
mode to its engine. Every result goes through the run database as soon as it exists
(content-addressed), and all randomness is drawn from generators seeded by (seed, ...) that
never depend on what was cached, so rerunning an interrupted search replays it from the
database to the same result.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from hadas.config import HadasConfig
from hadas.executors import Executor, SerialExecutor
from hadas.search.driver import EvaluationDriver, SearchStats
from hadas.search.evolution import breed, unique
from hadas.search.ioe import PlanScorer
from hadas.search.pymoo_seam import hypervolume
from hadas.search.constraints import penalised
from hadas.search.selection import nondominated_rank, rank_and_crowding
from hadas.space import Backbone, BackboneSpace, ExitDvfsSpace, ExitPlan
from hadas.space.dynn import ArchiveEntry, DynnKey, DynnResult, objective_matrix
from hadas.search.archive import Archive
from hadas.storage import RunDatabase


class Evaluators(Protocol):
    fingerprints: dict[str, str]

    reference_dvfs: dict[str, int]       # the platform's reference clocks (static DyNNs)

    def backbone(self, b: Backbone) -> dict[str, Any]: ...
    def ioe_problem(self, b: Backbone) -> tuple[ExitDvfsSpace, PlanScorer]: ...
    def reference_point(self) -> np.ndarray: ...


@dataclass
class SearchResult:
    archive: list[ArchiveEntry]
    hypervolume: list[float]          # of the archive after each generation (normalised)
    reference_point: list[float]
    stats: SearchStats
    # what the search saw on its way (for reports): every DyNN the inner engines returned, and
    # every backbone scored alone ({"backbone", "top1", "latency_ms", "energy_mj"})
    evaluated: list[ArchiveEntry] = field(default_factory=list)
    scored: list[dict[str, Any]] = field(default_factory=list)
    # after each generation: the hypervolume and what this search had spent so far (distinct
    # evaluations, DyNNs scored, compute seconds per phase as first measured), for cost curves
    progress: list[dict[str, Any]] = field(default_factory=list)


class BilevelSearch:
    def __init__(self, cfg: HadasConfig, evaluators: Evaluators, db: RunDatabase, run: str,
                 say: Callable[[str], None] = print, executor: Executor | None = None):
        self.cfg, self.ev, self.db, self.run, self.say = cfg, evaluators, db, run, say
        self.driver = EvaluationDriver(cfg, evaluators.fingerprints, db,
                                       executor or SerialExecutor(evaluators))
        self.stats = self.driver.stats
        self.space = BackboneSpace(cfg.supernet)
        self.reference = evaluators.reference_point()
        self.archiver = Archive(cfg.search.constraints, self.reference)
        self.evaluated: dict[DynnKey, ArchiveEntry] = {}
        self.scored: dict[Backbone, dict[str, Any]] = {}
        self.progress: list[dict[str, Any]] = []

    def record(self, generation: int, hypervolume: float) -> None:
        self.progress.append({"generation": generation, "hypervolume": hypervolume,
                              **self.driver.spent})

    def backbones(self, backbones: Sequence[Backbone]) -> list[dict[str, Any]]:
        values = self.driver.evaluate("backbone", [{"backbone": b.to_dict()} for b in backbones])
        for b, v in zip(backbones, values):
            self.scored[b] = {"backbone": b.to_dict(), **v}
        return values

    def ioes(self, backbones: Sequence[Backbone], inner: str = "exits+dvfs"
             ) -> list[list[DynnResult]]:
        """The IOE front of each backbone; its generator depends on (seed, backbone) only."""
        values = self.driver.evaluate("ioe", [{"backbone": b.to_dict(), "inner": inner}
                                       for b in backbones])
        return self._saw(backbones, [v["front"] for v in values])

    def random_dynns(self, backbones: Sequence[Backbone], n: int) -> list[list[DynnResult]]:
        """n random (exit plan, DVFS) DyNNs of each backbone (the `random` baseline)."""
        values = self.driver.evaluate("ioe", [{"backbone": b.to_dict(), "random": n} for b in backbones])
        return self._saw(backbones, [v["dynns"] for v in values])

    def _saw(self, backbones: Sequence[Backbone], dynns: list[list[dict[str, Any]]]
             ) -> list[list[DynnResult]]:
        """Records of stored DyNNs (the evaluation values' JSON form), remembered for reports."""
        records = [[DynnResult.from_dict(d) for d in ds] for ds in dynns]
        for b, ds in zip(backbones, records):
            for d in ds:
                entry = ArchiveEntry(b, d)
                self.evaluated[entry.key] = entry
        return records

    def result(self, archive: list[ArchiveEntry], history: list[float]) -> SearchResult:
        """The result so far (what the engines saw up to now, not what is evaluated later)."""
        return SearchResult(archive, history, self.reference.tolist(), self.stats,
                            list(self.evaluated.values()), list(self.scored.values()),
                            list(self.progress))

    def merge(self, archive: list[ArchiveEntry], found: Sequence[ArchiveEntry], stage: str,
              generation: int, population: list[Any]) -> tuple[list[ArchiveEntry], float]:
        """Merge `found` into the archive, record its hypervolume and store the generation."""
        archive = self.archiver.merge(archive, found)
        hv = self.archiver.hypervolume(archive)
        self.record(len(self.progress), hv)
        self.db.put_generation(self.run, stage, generation, population,
                               [e.to_dict() for e in archive])
        return archive, hv

    def static_dynn(self, s: dict[str, Any]) -> DynnResult:
        """A backbone alone (its `backbones` value): no exits, reference clocks."""
        return DynnResult(ExitPlan(()), dict(self.ev.reference_dvfs), s["top1"], s["latency_ms"],
                          s["energy_mj"], (1.0,), (s["top1"],), dict(s.get("provenance", {})))

    # -- the engines -----------------------------------------------------------------------------
    def run_hadas(self, inner: str | None = "exits+dvfs") -> SearchResult:
        """The OOE with an inner engine that may change `inner` ("exits+dvfs", "exits" or
        "dvfs"; see `search.modes`); None: no inner engine, static backbones."""
        ooe = self.cfg.search.ooe
        rng = np.random.default_rng([self.cfg.seed, 1])
        n_ioe, n_parents = ooe.survivors(), ooe.survivors(0.5)
        population = unique([self.space.sample_genome(rng) for _ in range(ooe.population)])
        parents: list[np.ndarray] = []
        archive: list[ArchiveEntry] = []
        history: list[float] = []
        spent: list[float] = []
        for gen in range(ooe.generations):
            t0 = time.perf_counter()
            pool = unique([*parents, *population])
            backbones = [self.space.decode(g) for g in pool]
            static = self.backbones(backbones)
            F = objective_matrix(static)
            if inner is None:
                selected = rank_and_crowding(penalised(F, self.cfg.search.constraints), n_parents)
                fronts = [[self.static_dynn(static[i])] for i in selected]
                parents = [pool[i] for i in selected]
            else:
                selected = rank_and_crowding(F, n_ioe)
                fronts = self.ioes([backbones[i] for i in selected], inner)
                order = self._outer_order(fronts)
                parents = [pool[selected[i]] for i in order[:n_parents]]
            found = [ArchiveEntry(backbones[i], d, gen)
                     for i, front in zip(selected, fronts) for d in front]
            archive, hv = self.merge(archive, found, "ooe", gen, [g.tolist() for g in pool])
            history.append(hv)
            spent.append(time.perf_counter() - t0)
            eta = (ooe.generations - gen - 1) * sum(spent) / len(spent)
            done = {k: self.stats.computed[k] + self.stats.cached[k] for k in self.stats.computed}
            self.say(f"generation {gen + 1}/{ooe.generations}: {len(pool)} backbones, "
                        f"{0 if inner is None else len(selected)} IOEs, "
                        f"evaluations {sum(done.values())} ({sum(self.stats.cached.values())} "
                        f"from the database), archive {len(archive)} DyNNs, hypervolume "
                        f"{hv:.4f}, {spent[-1]:.1f} s, ETA {eta:.0f} s")
            if gen < ooe.generations - 1:
                population = unique(breed(parents, self.space, ooe, rng))
        return self.result(archive, history)

    def run_ioe_only(self, backbones: Sequence[Backbone]) -> SearchResult:
        """The IOE of given backbones (the original script's IOE-only mode)."""
        backbones = [self.space.validate(b) for b in backbones]
        found = [ArchiveEntry(b, d, 0) for b, front in zip(backbones, self.ioes(backbones))
                 for d in front]
        archive, hv = self.merge([], found, "ioe", 0, [b.to_dict() for b in backbones])
        return self.result(archive, [hv])

    def run_conventional(self, references: Sequence[Backbone] | None) -> SearchResult:
        """The paper's comparison: conventional backbones (AttentiveNAS a0-a6 where the space
        has them, else the front of a static OOE on the same budget) given exits + DVFS."""
        if references:
            return self.run_ioe_only(references)
        ooe = self.cfg.search.ooe
        static = self.run_hadas(None)
        n_ioe = ooe.survivors() * ooe.generations
        chosen = rank_and_crowding(objective_matrix(static.archive), n_ioe)
        return self.run_ioe_only([static.archive[i].backbone for i in chosen])

    def run_random(self) -> SearchResult:
        """Random DyNNs: as many backbones as `hadas` sends to the IOE, each with as many
        random (exit plan, DVFS) points as one IOE evaluates at most."""
        ooe, ioe = self.cfg.search.ooe, self.cfg.search.ioe
        n_backbones = ooe.survivors() * ooe.generations
        n_dynns = ioe.population + (ioe.generations - 1) * (ioe.n_crossover + ioe.n_mutation)
        rng = np.random.default_rng([self.cfg.seed, 3])
        backbones = [self.space.sample(rng) for _ in range(n_backbones)]
        found = [ArchiveEntry(b, d, 0)
                 for b, dynns in zip(backbones, self.random_dynns(backbones, n_dynns))
                 for d in dynns]
        archive, hv = self.merge([], found, "random", 0, [])
        return self.result(archive, [hv])

    def _outer_order(self, fronts: list[list[DynnResult]]) -> np.ndarray:
        """Survivors best first: best non-dominated rank of their DyNNs in the union of all
        fronts, then larger hypervolume of their own front."""
        owner = np.array([i for i, f in enumerate(fronts) for _ in f])
        union = np.array([d.objectives for f in fronts for d in f]).reshape(-1, 3)
        rank = nondominated_rank(union)
        # a backbone without any feasible DyNN comes last
        best = np.array([rank[owner == i].min() if f else len(union) + 1
                         for i, f in enumerate(fronts)])
        hv = np.array([hypervolume(np.array([d.objectives for d in f]).reshape(-1, 3)
                                   / self.reference, np.ones(3)) for f in fronts])
        return np.lexsort((np.arange(len(fronts)), -hv, best))
