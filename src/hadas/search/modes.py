"""The search modes, one registry: what each runs and what its inner engine may change.
`hadas search --mode`, the config checks and the docs read `SEARCH_MODES.names()`; a new mode is
one `register` call here (or anywhere before the search starts) and is tested automatically."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hadas.registry import Registry
from hadas.search.bilevel import BilevelSearch, SearchResult
from hadas.space import Backbone


Runner = Callable[[BilevelSearch, Sequence[Backbone]], SearchResult]


@dataclass(frozen=True)
class SearchMode:
    name: str
    summary: str            # one line for `hadas search --help`
    # what the inner engine may change: "exits+dvfs" | "exits" | "dvfs"; None: static backbones
    inner: str | None
    run: Runner | None = None  # None: the OOE with this mode's inner engine
    takes_backbones: bool = False
    breakdown: bool = False  # the energy breakdown (exits alone, exits + DVFS) follows it

    def start(self, engine: BilevelSearch, given: Sequence[Backbone]) -> SearchResult:
        """Run the mode; `given`: the `--backbones` of a mode that takes them, else the space's
        AttentiveNAS reference backbones (a0-a6; [] where the space has none)."""
        return self.run(engine, given) if self.run else engine.run_hadas(self.inner)


SEARCH_MODES: Registry[SearchMode] = Registry("search mode", "mode")
for _mode in (
    SearchMode("hadas", "OOE over backbones, IOE over exits + DVFS (the paper)", "exits+dvfs",
               breakdown=True),
    SearchMode("ioe", "the IOE of the given --backbones", "exits+dvfs",
               lambda engine, backbones: engine.run_ioe_only(backbones), takes_backbones=True),
    SearchMode("conventional", "reference backbones (a0-a6, else a static OOE front) given "
               "exits + DVFS", "exits+dvfs",
               lambda engine, references: engine.run_conventional(references or None)),
    SearchMode("static", "OOE over backbones alone, no exits, reference clocks", None),
    SearchMode("exits-only", "OOE with an IOE over exits at the reference clocks", "exits"),
    SearchMode("dvfs-only", "OOE with an IOE over clocks, no exits", "dvfs"),
    SearchMode("random", "random backbones with random exits + DVFS (same budget)",
               "exits+dvfs", lambda engine, _: engine.run_random()),
):
    SEARCH_MODES.register(_mode.name, _mode)
