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
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        if node is None:
            raise ConfigError(path, 1, None, "the file is empty")
        lines: dict[Loc, int] = {}
        data = _build(node, (), loader, lines, path)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        problem = e.problem or e.context or "invalid YAML"
        raise ConfigError(path, line, None, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as e:
        raise ConfigError(path, None, None, f"invalid YAML: {e}") from None
    except RecursionError:
        raise ConfigError(path, None, None, "invalid YAML: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()
    return Source(path, data, lines)


def _build(node: yaml.Node, loc: Loc, loader: yaml.SafeLoader, lines: dict[Loc, int], path: Path) -> Any:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves YAML merge keys (<<)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, loader, path)
            if key in out:
                raise ConfigError(path, key_node.start_mark.line + 1, format_loc(loc + (str(key),)), "duplicate key")
            lines[loc + (key,)] = key_node.start_mark.line + 1
            out[key] = _build(value_node, loc + (key,), loader, lines, path)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, loc + (i,), loader, lines, path) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _scalar(node: yaml.Node, loader: yaml.SafeLoader, path: Path) -> str | int:
    if not isinstance(node, yaml.ScalarNode):
        raise ConfigError(path, node.start_mark.line + 1, None, "a key must be a plain word, not a list or mapping")
    value = loader.construct_object(node)
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
