"""The search modes, one registry: what each runs and what its inner engine may change.
`hadas search --mode`, the config checks and the docs read `SEARCH_MODES.names()`; a new mode is
one `register` call here (or anywhere before the search starts) and is tested automatically."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hadas.registry import Registry
from hadas.search.bilevel import BilevelSearch, SearchResult
from hadas.space import Backbone


@dataclass(frozen=True)
class SearchMode:
    name: str
    summary: str
    # what the inner engine may change: "exits+dvfs" | "exits" | "dvfs"; None: static backbones
    inner: str | None
    # runs the mode; gets the `--backbones` of a mode that takes them, else the space's
    # AttentiveNAS reference backbones (a0-a6; [] where the space has none)
    run: Callable[[BilevelSearch, Sequence[Backbone]], SearchResult]
    takes_backbones: bool = False
    breakdown: bool = False  # the energy breakdown (exits alone, exits + DVFS) follows it


SEARCH_MODES: Registry[SearchMode] = Registry("search mode", "mode")


def _register(mode: SearchMode) -> None:
    SEARCH_MODES.register(mode.name, mode)


def _outer(name: str) -> Callable[[BilevelSearch, Sequence[Backbone]], SearchResult]:
    return lambda engine, _: engine.run_hadas(SEARCH_MODES.get(name).inner)


_register(SearchMode("hadas", "OOE over backbones, IOE over exits + DVFS (the paper)",
                     "exits+dvfs", _outer("hadas"), breakdown=True))
_register(SearchMode("ioe", "the IOE of given backbones (--backbones)", "exits+dvfs",
                     lambda engine, backbones: engine.run_ioe_only(backbones),
                     takes_backbones=True))
_register(SearchMode("conventional", "reference backbones (a0-a6, else a static front) given "
                     "exits + DVFS", "exits+dvfs", lambda engine, references:
                     engine.run_conventional(references or None)))
_register(SearchMode("static", "OOE over backbones alone, no exits, reference clocks", None,
                     _outer("static")))
_register(SearchMode("exits-only", "OOE with an IOE over exits at the reference clocks",
                     "exits", _outer("exits-only")))
_register(SearchMode("dvfs-only", "OOE with an IOE over clocks, no exits", "dvfs",
                     _outer("dvfs-only")))
_register(SearchMode("random", "random backbones with random exits + DVFS (same budget)",
                     "exits+dvfs", lambda engine, _: engine.run_random()))
