"""One small registry per family (exit policies, search modes, executors), the timm pattern:
`register` once where the thing is defined; config validation, CLI choices, docs and contract
tests all read `names()`, so a new member is one definition and is tested automatically."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from hadas.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named members of one family, in registration order."""

    def __init__(self, family: str, field: str):
        self.family, self.field = family, field  # field: the config key an unknown name is for
        self._members: dict[str, T] = {}

    def register(self, name: str, member: T) -> T:
        if name in self._members:
            raise ValueError(f"{self.family} {name!r} is registered twice")
        self._members[name] = member
        return member

    def get(self, name: str) -> T:
        """The member called `name`; ConfigError naming the field and the names otherwise."""
        try:
            return self._members[name]
        except (KeyError, TypeError):
            raise ConfigError(self.field, f"unknown {self.family} {name!r}", self.names()) from None

    def names(self) -> tuple[str, ...]:
        return tuple(self._members)

    def __iter__(self) -> Iterator[T]:
        return iter(self._members.values())
