"""YAML files that remember where each value came from.

Written by hand because no kept library joins the two halves we need:
PyYAML knows line numbers only on its node tree, and pydantic reports an
error as a path of keys and indexes (its `loc`). This module builds the plain
data and a `{path: line}` map in one walk of the node tree, refuses duplicate
keys (PyYAML silently keeps the last), and turns a pydantic error or a
reference error into "file:line: field: message".
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import yaml

from chaos.errors import ConfigError, ConfigErrors

Loc = tuple[str | int, ...]

# The size beyond which a file is surely not a scenario or system file; a
# guard against a huge or hostile input eating memory before validation.
MAX_FILE_BYTES = 1_000_000
# A scenario has about fifty values and six levels. Counting values with every
# alias expanded stops a "billion laughs" file (nine aliases of nine aliases
# of ...: a few hundred bytes that expand to billions of values) while it is
# being read, before anything walks the expansion.
MAX_VALUES = 10_000
MAX_DEPTH = 50
_MERGE = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class Source:
    """One parsed YAML document: its data, and the line of every value in it."""

    path: Path
    data: Any
    lines: dict[Loc, int] = field(repr=False)

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """The line of the deepest part of `loc` that exists in the file."""
        loc = tuple(loc)
        while loc not in self.lines and loc:
            loc = loc[:-1]
        return self.lines.get(loc)

    def error(self, loc: Sequence[str | int], message: str) -> ConfigError:
        """A ConfigError pointing at `loc` in this file."""
        loc = tuple(loc)
        return ConfigError(self.path, self.line_of(loc), format_loc(loc) or None, message)


def format_loc(loc: Iterable[str | int]) -> str:
    """('checks', 1, 'within') -> 'checks[1].within'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def load_yaml(path: Path) -> Source:
    """Read and parse one YAML file; a ConfigError on anything unreadable."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(path, None, None, "no such file") from None
    except OSError as e:
        raise ConfigError(path, None, None, f"cannot read: {e.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(path, None, None, f"file is {len(raw)} bytes; a scenario or system file is at most {MAX_FILE_BYTES}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(path, None, None, f"not UTF-8 text (byte {e.start})") from None
    return parse_yaml(text, path)


def parse_yaml(text: str, path: Path) -> Source:
    """Parse YAML text; `path` is used only in messages."""
    loader = None
    try:
        loader = _BoundedLoader(text)
        node = loader.get_single_node()
        if node is None:
            raise ConfigError(path, 1, None, "the file is empty")
        lines: dict[Loc, int] = {}
        data = _build(node, (), loader, lines, path)
    except _TooBig as e:
        raise ConfigError(path, e.problem_mark.line + 1, None, e.problem) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        problem = e.problem or e.context or "invalid YAML"
        raise ConfigError(path, line, None, f"invalid YAML: {problem}") from None
    except yaml.reader.ReaderError as e:
        # Its str() ends in a second line about "<unicode string>", which is no file of the user's.
        line = text.count("\n", 0, e.position) + 1
        raise ConfigError(path, line, None, f"invalid YAML: character {e.character:#06x} is not allowed in YAML") from None
    except yaml.YAMLError as e:
        raise ConfigError(path, None, None, f"invalid YAML: {e}") from None
    except RecursionError:
        raise ConfigError(path, None, None, "invalid YAML: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()
    return Source(path, data, lines)


class _TooBig(yaml.MarkedYAMLError):
    """The document is too big or too deep to be a scenario or system file."""


try:
    # libyaml's parser, 8x faster than PyYAML's own on a system file (20 ms
    # -> 2.6 ms), still feeding the Python composer below that counts values
    # and depth and keeps line marks. PyYAML's CSafeLoader cannot be used
    # as is: it composes in C, past compose_node.
    from yaml._yaml import CParser as _Parser

    class _SafeBase(yaml.composer.Composer, _Parser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        def __init__(self, text: str):
            _Parser.__init__(self, text)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

except ImportError:  # PyYAML built without libyaml
    _SafeBase = yaml.SafeLoader  # type: ignore[misc,assignment]


class _BoundedLoader(_SafeBase):  # type: ignore[misc,valid-type]
    """A safe loader that refuses, while composing, a document of more than
    MAX_VALUES values (each alias counted as the values it stands for), more
    than MAX_DEPTH levels, or an alias inside the value it refers to."""

    def __init__(self, text: str):
        super().__init__(text)
        self._expanded = 0  # values so far, aliases expanded
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id(node) -> its values, aliases expanded

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        mark = self.peek_event().start_mark
        if self.check_event(yaml.AliasEvent):
            node = super().compose_node(parent, index)
            size = self._sizes.get(id(node))
            if size is None:  # its node is still being composed
                raise _TooBig(None, None, "an alias refers to a value that contains it", mark)
            self._count(size, mark)
            return node
        if self._depth >= MAX_DEPTH:
            raise _TooBig(None, None, f"nested more than {MAX_DEPTH} levels deep", mark)
        before = self._expanded
        self._count(1, mark)
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._sizes[id(node)] = self._expanded - before
        return node

    def _count(self, values: int, mark: yaml.Mark) -> None:
        self._expanded += values
        if self._expanded > MAX_VALUES:
            raise _TooBig(None, None, f"more than {MAX_VALUES} values (aliases expanded): too big for a scenario or system file", mark)


def _build(node: yaml.Node, loc: Loc, loader: yaml.SafeLoader, lines: dict[Loc, int], path: Path) -> Any:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        merged, own = _merge(node, loc, path)
        pairs: dict[Any, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in merged:
            pairs[_scalar(key_node, loader, path)] = (key_node, value_node)  # YAML merge: a later one wins
        seen: set[Any] = set()
        for key_node, value_node in own:
            key = _scalar(key_node, loader, path)
            if key in seen:
                raise ConfigError(path, key_node.start_mark.line + 1, format_loc(loc + (str(key),)), "duplicate key")
            seen.add(key)
            pairs.pop(key, None)  # the mapping's own keys override merged ones
            pairs[key] = (key_node, value_node)
        out: dict[Any, Any] = {}
        for key, (key_node, value_node) in pairs.items():
            lines[loc + (key,)] = key_node.start_mark.line + 1
            out[key] = _build(value_node, loc + (key,), loader, lines, path)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, loc + (i,), loader, lines, path) for i, item in enumerate(node.value)]
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError:
        raise
    except Exception as e:  # noqa: BLE001 - PyYAML lets e.g. `2021-13-45`, `!!int x` or a 5000-digit int raise anything
        reason = str(e).split(";")[0]  # drop Python's advice on int digits, which is no use to a user
        kind = node.tag.rsplit(":", 1)[-1]
        raise ConfigError(path, node.start_mark.line + 1, format_loc(loc) or None, f"cannot read {node.value[:40]!r} as {kind}: {reason}") from None


def _merge(node: yaml.MappingNode, loc: Loc, path: Path) -> tuple[list[tuple[yaml.Node, yaml.Node]], list[tuple[yaml.Node, yaml.Node]]]:
    """A mapping's pairs merged in by YAML merge keys (<<), in the order in
    which later ones win, and its own pairs. Unlike PyYAML's flatten_mapping
    it leaves the nodes as they are, so a node reached twice reads the same."""
    merged: list[tuple[yaml.Node, yaml.Node]] = []
    own = []
    for key_node, value_node in node.value:
        if key_node.tag != _MERGE:
            own.append((key_node, value_node))
            continue
        subs = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        for sub in reversed(subs):  # in `<<: [*a, *b]`, a's keys win over b's
            if not isinstance(sub, yaml.MappingNode):
                raise ConfigError(path, sub.start_mark.line + 1, format_loc(loc + ("<<",)), "merges a mapping or a list of mappings")
            sub_merged, sub_own = _merge(sub, loc, path)
            merged += sub_merged + sub_own
    return merged, own


def _scalar(node: yaml.Node, loader: yaml.SafeLoader, path: Path) -> str | int:
    if not isinstance(node, yaml.ScalarNode):
        raise ConfigError(path, node.start_mark.line + 1, None, "a key must be a plain word, not a list or mapping")
    try:
        value = loader.construct_object(node)
    except yaml.YAMLError:
        raise
    except Exception as e:  # noqa: BLE001 - a tagged key (`!!int name:`) lets PyYAML raise anything, as values do
        raise ConfigError(path, node.start_mark.line + 1, None, f"cannot read the key {node.value[:40]!r}: {str(e).split(';')[0]}") from None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        # YAML reads `on:` or `yes:` as booleans; as keys they are surely meant as words.
        return str(node.value)
    return value


def validate(model: type[pydantic.BaseModel] | pydantic.TypeAdapter, source: Source, vocabulary: Iterable[str] = ()) -> Any:
    """Validate the source's data with a pydantic model, or raise ConfigErrors
    that name file, line and field. `vocabulary` is the field names used for
    'did you mean' hints on unknown fields."""
    try:
        if isinstance(model, pydantic.TypeAdapter):
            return model.validate_python(source.data)
        return model.model_validate(source.data)
    except pydantic.ValidationError as exc:
        raise ConfigErrors([_to_config_error(err, source, vocabulary) for err in exc.errors()[:8]]) from None


def _to_config_error(err: Any, source: Source, vocabulary: Iterable[str]) -> ConfigError:
    loc = _data_loc(source.data, err["loc"])
    message = _message(err)
    if err["type"] == "union_tag_invalid":
        tag, expected = err["ctx"]["tag"], err["ctx"]["expected_tags"].replace("'", "")
        close = difflib.get_close_matches(str(tag), [t.strip() for t in expected.split(",")], n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return source.error(loc + (err["ctx"]["discriminator"].strip("'"),), f"unknown kind '{tag}'{hint}; known: {expected}")
    if err["type"] == "extra_forbidden" and loc and isinstance(loc[-1], str):
        close = difflib.get_close_matches(loc[-1], sorted(set(vocabulary)), n=1, cutoff=0.6)
        message = "unknown field" + (f" (did you mean '{close[0]}'?)" if close else "")
    return source.error(loc, message)


def _data_loc(data: Any, loc: Sequence[str | int]) -> Loc:
    """Drop the parts of a pydantic loc that are not keys of the data: the
    tags of tagged unions and validator names, which name no place in the file."""
    out: list[str | int] = []
    here = data
    for part in loc:
        if isinstance(here, dict) and part not in here and part == here.get("kind"):
            continue  # the tag of a tagged union: the entry's own kind
        if isinstance(here, dict) and part in here:
            out.append(part)
            here = here[part]
        elif isinstance(here, list) and isinstance(part, int) and 0 <= part < len(here):
            out.append(part)
            here = here[part]
        elif isinstance(here, dict) and isinstance(part, str) and not _is_tag(part):
            out.append(part)  # a missing required field: name it at its parent's line
            here = None
    return tuple(out)


def _is_tag(part: str) -> bool:
    # pydantic puts union member names and tags like 'function-after[...]' in locs.
    return "[" in part or part in {"str", "int", "float", "bool", "list", "dict"}


def _message(err: Any) -> str:
    kind = err["type"]
    if kind == "missing":
        return "required field is missing"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if kind not in {"missing", "extra_forbidden"} and "input" in err and not isinstance(err["input"], (dict, list)):
        shown = repr(err["input"])
        if len(shown) > 60:
            shown = shown[:57] + "..."
        msg += f" (got {shown})"
    return msg
