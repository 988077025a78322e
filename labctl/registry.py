"""Registries: the classes files name (services in topologies; step kinds, assertions, faults, traffic flow types
in scenarios), each found by its name. A class registers itself with the registry's decorator; the first time a
registry is read, every module of its package is imported, so adding one is adding one module to that package."""
from __future__ import annotations

import importlib
import math
import pkgutil
from collections.abc import Iterator, MutableMapping
from typing import Callable, TypeVar

C = TypeVar("C", bound=type)


class Registry(MutableMapping[str, C]):
    """Classes by name. `what` names them in messages ('fault'); `attribute` is the class attribute that is set to
    the name a class is registered under; `package` holds the modules that register."""

    def __init__(self, what: str, attribute: str, package: str):
        self.what, self.attribute, self.package = what, attribute, package
        self._classes: dict[str, C] = {}
        self._order: dict[str, float] = {}
        self._found = False

    def register(self, name: str, order: float = math.inf) -> Callable[[C], C]:
        """Class decorator: @FAULTS.register("link_down"). Lists of names give those with an `order` first, by
        it, then the others alphabetically."""
        def decorator(cls: C) -> C:
            setattr(cls, self.attribute, name)
            self._classes[name], self._order[name] = cls, order
            return cls
        return decorator

    def _all(self) -> dict[str, C]:
        if not self._found:
            self._found = True
            for module in pkgutil.iter_modules(importlib.import_module(self.package).__path__, f"{self.package}."):
                importlib.import_module(module.name)
        return self._classes

    def names(self) -> list[str]:
        return sorted(self._all(), key=lambda name: (self._order.get(name, math.inf), name))

    def lookup(self, name: object) -> C:
        """The class registered as `name`, or LookupError("unknown fault 'x'; valid: a, b")."""
        if not isinstance(name, str) or name not in self._all():
            raise LookupError(f"unknown {self.what} '{name}'; valid: {', '.join(self.names())}")
        return self._classes[name]

    def __getitem__(self, name: str) -> C:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._all())

    def __setitem__(self, name: str, cls: C) -> None:
        self._all()[name] = cls

    def __delitem__(self, name: str) -> None:
        del self._all()[name]
