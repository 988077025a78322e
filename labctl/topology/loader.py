"""Reading YAML while keeping the line of every key and list item, for located error messages."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from labctl.errors import InputError


@dataclass
class Source:
    """A loaded YAML document: plain data plus the line of each key path."""

    path: str
    data: Any
    lines: dict[tuple, int] = field(default_factory=dict)

    def line(self, loc: tuple) -> int:
        """The line of `loc`, or of its nearest ancestor that has one."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), 1)

    def error(self, loc: tuple, message: str) -> str:
        where = ".".join(str(part) for part in loc)
        return f"{self.path}:{self.line(loc)}: {where + ': ' if where else ''}{message}"


def _index_lines(node: yaml.Node, loc: tuple, lines: dict[tuple, int], duplicates: list[tuple[tuple, int]]) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue                # a `? [a, b]` key: yaml.load rejects it as unhashable
            key = loc + (key_node.value,)
            if key in lines:        # yaml.load would silently keep the last one
                duplicates.append((key, key_node.start_mark.line + 1))
                continue
            lines[key] = key_node.start_mark.line + 1
            _index_lines(value_node, key, lines, duplicates)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, loc + (i,), lines, duplicates)


def load_yaml(path: str | Path) -> Source:
    """Parse a YAML file into a Source; syntax errors become an InputError with file and line."""
    path = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise InputError([f"{path}: cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise InputError([f"{path}: cannot read: not a UTF-8 text file"]) from None
    try:
        node, data = _parse(text, getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:          # said again by the Python parser, whose messages the error cases pin down
        try:
            node, data = _parse(text, yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            raise InputError([f"{path}:{_syntax_error(exc)}"]) from None
        except yaml.reader.ReaderError as exc:
            line = text.count("\n", 0, exc.position) + 1
            code = exc.character if isinstance(exc.character, int) else ord(exc.character)
            raise InputError([f"{path}:{line}: YAML syntax error: character U+{code:04X} is not allowed"]) from None
    lines: dict[tuple, int] = {}
    duplicates: list[tuple[tuple, int]] = []
    if node is not None:
        _index_lines(node, (), lines, duplicates)
    if duplicates:
        raise InputError([f"{path}:{line}: {'.'.join(map(str, loc))}: duplicate key '{loc[-1]}' (first at line "
                          f"{lines[loc]}); each key may appear once" for loc, line in duplicates])
    if not isinstance(data, dict):
        raise InputError([f"{path}:1: expected a mapping at the top level (name:, nodes:, links:)"])
    return Source(path, data, lines)


def _parse(text: str, loader_class: type) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (with the marks that give lines) and its data, built from that one parse."""
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        return node, None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()


def _syntax_error(exc: yaml.MarkedYAMLError) -> str:
    """"line: YAML syntax error: problem", naming where the unfinished construct started if elsewhere."""
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else 1
    message = f"{line}: YAML syntax error: {exc.problem or exc.context or 'invalid YAML'}"
    if exc.problem and exc.context and exc.context_mark and exc.context_mark.line + 1 != line:
        message += f" ({exc.context} started at line {exc.context_mark.line + 1})"
    return message
