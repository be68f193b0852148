"""The commands of a Click group, each built from its function only when it is first used.

Typer turns a command function into a Click command by evaluating every parameter's annotation, several
times over (``inspect.signature`` and ``typing.get_type_hints``, twice each): about a third of the start-up
of ``stecheck COMMAND --help`` when all eight commands are built. A command line names one command, and
the group's own help lists the commands from their docstrings, so only the command that runs is built.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Iterator, Mapping, MutableMapping

__all__ = ["LazyCommands"]

Builder = Callable[[str, Callable[..., Any]], Any]


class LazyCommands(MutableMapping[str, Any]):
    """Command name -> Click command, in registration order; a function's command is built on first access.

    Parameters
    ----------
    functions : Mapping[str, Callable]
        The command functions by name, in the order the group's help lists them.
    build : Callable[[str, Callable], click.Command]
        Makes the Click command of one function (called at most once per name).
    built : Mapping[str, click.Command], optional
        Commands that already exist (listed after ``functions``).
    """

    def __init__(self, functions: Mapping[str, Callable[..., Any]], build: Builder, built: Mapping[str, Any] | None = None) -> None:
        self._functions = dict(functions)
        self._build = build
        self._built = dict(built or {})
        self._order = list(dict.fromkeys([*self._functions, *self._built]))

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            self._built[name] = self._build(name, self._functions[name])  # KeyError for an unknown name
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._functions.pop(name, None)
        self._built[name] = command
        if name not in self._order:
            self._order.append(name)

    def __delitem__(self, name: str) -> None:
        if name not in self._order:
            raise KeyError(name)
        self._functions.pop(name, None)
        self._built.pop(name, None)
        self._order.remove(name)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, name: object) -> bool:
        return name in self._order

    def built(self, name: str) -> Any | None:
        """The command of ``name`` if it has been built, else None (and nothing is built)."""
        return self._built.get(name)

    def docstring(self, name: str) -> str | None:
        """The cleaned docstring of the function of ``name``: the help text Typer gives its command."""
        return inspect.getdoc(self._functions[name])
