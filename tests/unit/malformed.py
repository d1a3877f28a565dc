"""Hypothesis strategies for malformed and hostile scenario files.

Most files are the scenarios of scenarios/ and tests/scenarios/ with a few
structured mutations at random places: a value replaced by a hostile one, a
key deleted, renamed or added, a list item added, a kind swapped, a name
that refers to nothing. The rest is text: the shipped files with junk spliced in, YAML-ish
noise, raw bytes, and a corpus of classic attacks (alias bombs, deep nesting).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from chaos.checks import CHECKS
from chaos.faults import FAULTS

ROOT = Path(__file__).resolve().parents[2]
# The shipped scenarios and the tests' own (which add pause, latency and down faults).
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml")) + sorted((ROOT / "tests" / "scenarios").glob("*.yaml"))
TEXTS = {p.stem: p.read_text() for p in SCENARIOS}
DOCS = {name: yaml.safe_load(text) for name, text in TEXTS.items()}

# Names a scenario refers to, spelt slightly wrong or pointing nowhere.
NEAR_MISSES = [
    "oders", "Orders", "orders ", "gateway", "nowhere", "gateway->order", "gateway->inventory", "users->orders",
    "orders->gateway", "gateway-> orders", "->", "place_order", "user_orders", "kil", "latancy", "breaker_open",
]
HOSTILE_SCALARS = [
    None, True, False, 0, -1, -0.001, 10**30, -(10**30), 1e308, float("inf"), float("-inf"), float("nan"),
    "", " ", "soon", "-3s", "1h", "3 s", "1e9s", "86401", "0.0001ms", "${nope}", "${}", "$", "${latency_ms}",
    "a\n\nb", "tab\there", "ørders", "\u202e", "\x00", "NaN", "null", "~", "yes",
]
UNKNOWN_KINDS = ["boom", "Kill", "kill ", "", "latency_ms", "breaker-opens", "ΚΙΛΛ"]


def names(obj: Any) -> list[str]:
    """Every key and string value in obj: material for typos."""
    if isinstance(obj, dict):
        return [str(k) for k in obj] + [n for v in obj.values() for n in names(v)]
    if isinstance(obj, list):
        return [n for v in obj for n in names(v)]
    return [obj] if isinstance(obj, str) and len(obj) < 40 else []


def places(obj: Any, loc: tuple = ()) -> list[tuple]:
    """The location of every value below the top (keys and list indexes)."""
    out = []
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else []
    for key, value in items:
        out.append(loc + (key,))
        out.extend(places(value, loc + (key,)))
    return out


def containers(obj: Any, loc: tuple = ()) -> list[tuple]:
    """The location of every mapping and list, the top included."""
    if not isinstance(obj, (dict, list)):
        return []
    items = obj.items() if isinstance(obj, dict) else enumerate(obj)
    return [loc] + [c for k, v in items for c in containers(v, loc + (k,))]


def at(obj: Any, loc: tuple) -> Any:
    for part in loc:
        obj = obj[part]
    return obj


@st.composite
def typos(draw: st.DrawFn, word: str) -> str:
    """One edit away from `word`: a dropped, doubled, swapped or changed letter."""
    if not word:
        return draw(st.sampled_from(["x", "_"]))
    i = draw(st.integers(0, len(word) - 1))
    how = draw(st.sampled_from(["drop", "double", "swap", "change", "case"]))
    if how == "drop":
        return word[:i] + word[i + 1:]
    if how == "double":
        return word[:i] + word[i] + word[i:]
    if how == "swap" and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if how == "case":
        return word.swapcase()
    return word[:i] + draw(st.sampled_from("aeiouxz_-1 ")) + word[i + 1:]


KEYS = st.one_of(
    st.sampled_from(["servce", "edges", "latancy", "duraton", "when", "kind2", "at ", "1", "true", "<<"]),
    st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True),
)
ATOMS = st.one_of(
    st.sampled_from(HOSTILE_SCALARS),
    st.sampled_from(NEAR_MISSES),
    st.integers(),
    st.floats(),
    st.text(max_size=30),
)
HOSTILE = st.one_of(
    ATOMS,
    st.integers(1000, 5000).map(lambda n: "x" * n),  # a long name, echoed back in a message
    st.recursive(ATOMS, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)), max_leaves=12),
)


@st.composite
def mutate_once(draw: st.DrawFn, doc: dict) -> str:
    """Apply one structured mutation to `doc` in place; returns what it did."""
    how = draw(st.sampled_from(["replace", "replace", "delete", "add-key", "rename", "add-item", "kind", "refer"]))
    if how in ("replace", "delete", "rename", "refer"):
        loc = draw(st.sampled_from(places(doc)))
        parent, key = at(doc, loc[:-1]), loc[-1]
        if how == "replace":
            parent[key] = draw(HOSTILE)
        elif how == "refer":
            parent[key] = draw(st.one_of(st.sampled_from(NEAR_MISSES), typos(str(parent[key]))))
        elif isinstance(parent, list):  # delete or rename in a list: drop the item
            del parent[key]
        elif how == "delete":
            del parent[key]
        else:
            new = draw(typos(str(key)))
            parent[new] = parent.pop(key)
        return f"{how} {loc}"
    if how == "add-key":
        maps = [c for c in containers(doc) if isinstance(at(doc, c), dict)]
        loc = draw(st.sampled_from(maps))
        key = draw(st.one_of(KEYS, st.sampled_from(names(doc)).flatmap(typos)))
        at(doc, loc)[key] = draw(HOSTILE)
        return f"add-key {loc}+{key!r}"
    if how == "add-item":
        lists = [c for c in containers(doc) if isinstance(at(doc, c), list)] or [()]
        loc = draw(st.sampled_from(lists))
        target = at(doc, loc)
        if not isinstance(target, list):
            return "add-item: no list"
        item = copy.deepcopy(draw(st.sampled_from(target))) if target else {}
        if isinstance(item, dict):
            item["kind"] = draw(st.sampled_from(UNKNOWN_KINDS + sorted(FAULTS) + sorted(CHECKS)))
        target.append(item)
        return f"add-item {loc}"
    # kind: swap an entry's kind for another registered one or an unknown one
    entries = [loc for loc in places(doc) if loc[-1] == "kind"]
    if not entries:
        return "kind: none left"
    loc = draw(st.sampled_from(entries))
    at(doc, loc[:-1])["kind"] = draw(st.sampled_from(UNKNOWN_KINDS + sorted(FAULTS) + sorted(CHECKS)))
    return f"kind {loc}"


@dataclass
class Case:
    """One file to try: its name, bytes, and whether it is a mapping of typed data."""

    name: str
    content: bytes
    structured: bool
    how: str
    args: tuple[str, ...] = ()  # extra arguments for `chaos run` (e.g. --param)
    env: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        return f"Case({self.name!r}, {self.how!r}, args={self.args}, env={self.env},\n{self.content.decode(errors='replace')})"


def dump(data: Any) -> bytes:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000).encode()


@st.composite
def structured_cases(draw: st.DrawFn) -> Case:
    """A shipped scenario with one to three structured mutations."""
    name = draw(st.sampled_from(sorted(DOCS)))
    doc = copy.deepcopy(DOCS[name])
    done = [draw(mutate_once(doc)) for _ in range(draw(st.integers(1, 3)))]
    return Case(name, dump(doc), True, "; ".join(done))


PARAM_VALUES = st.one_of(st.sampled_from(["abc", "", "1e9", "-1", "3.5", "999999999", "1s", "${x}", "0x10", " 5"]), st.text(max_size=8))


@st.composite
def parameter_cases(draw: st.DrawFn) -> Case:
    """Bad parameters: a bad declaration, a bad default, an unknown ${ref}, or
    a bad override from --param or the environment."""
    doc = copy.deepcopy(DOCS["order-slow"])
    spec = doc["parameters"]["latency_ms"]
    how = draw(st.sampled_from(["type", "default", "bounds", "ref", "block", "override", "env"]))
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    if how == "type":
        spec["type"] = draw(st.one_of(st.sampled_from(["integer", "bool", "list", "", "Int"]), HOSTILE))
    elif how == "default":
        spec["default"] = draw(st.one_of(st.sampled_from([-1, 60001, 10**12, "fast", "3s", 2.5, None, [], True]), HOSTILE))
    elif how == "bounds":
        spec["min"], spec["max"] = draw(st.sampled_from([(5000, 6000), (0, 10), ("low", None), (None, [1]), (4000, 1000)]))
    elif how == "ref":
        loc = draw(st.sampled_from([loc for loc in places(doc) if loc[0] != "parameters"]))
        at(doc, loc[:-1])[loc[-1]] = draw(st.sampled_from(["${latncy_ms}", "${nope}", "x${nope}", "${LATENCY_MS}", "${latency_ms}"]))
    elif how == "block":
        doc["parameters"] = draw(st.one_of(st.sampled_from([[1, 2], "latency_ms", None, {"latency_ms": 3000}]), HOSTILE))
    elif how == "override":
        name = draw(st.sampled_from(["latency_ms", "latency_ms", "nope", "LATENCY_MS", ""]))
        args = ("--param", f"{name}={draw(PARAM_VALUES)}")
    else:
        env = (("LATENCY_MS", draw(PARAM_VALUES.filter(lambda v: "\x00" not in v))),)  # no environment can hold a NUL
    return Case("order-slow", dump(doc), True, f"parameters: {how}", args, env)


JUNK = st.one_of(
    st.sampled_from([
        "\t", "[", "]", "{", "}", ":", ": ", "- ", "&a ", "*a", "*nope", "!!int ", "!!python/object:os.system ", "<<: *a\n",
        "---\n", "...\n", "%YAML 1.1\n", "\x00", "\ufeff", "'", '"', "#", "|", ">", "? ", "\r", "\x85", "\u2028", "\n  ",
        "!!binary ", "&a &b ", "!!set ", "9" * 5000, "2021-13-45", "\x1b[31m",
    ]),
    st.text(max_size=6),
)


@st.composite
def text_cases(draw: st.DrawFn) -> Case:
    """A shipped file with junk spliced in, a range cut out, a line doubled or the end cut off."""
    name = draw(st.sampled_from(sorted(TEXTS)))
    text = TEXTS[name]
    done = []
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        how = draw(st.sampled_from(["splice", "splice", "cut", "double-line", "truncate", "indent"]))
        if how == "splice":
            text = text[:i] + draw(JUNK) + text[i:]
        elif how == "cut":
            text = text[:i] + text[i + draw(st.integers(1, 40)):]
        elif how == "double-line":
            lines = text.splitlines(keepends=True) or [""]
            j = i % len(lines)
            text = "".join(lines[:j + 1] + lines[j:])
        elif how == "truncate":
            text = text[:i]
        else:
            start = text.rfind("\n", 0, i) + 1
            text = text[:start] + draw(st.sampled_from(["\t", " ", "   ", "\t  "])) + text[start:]
        done.append(f"{how}@{i}")
    return Case(name, text.encode("utf-8", "surrogatepass"), False, "text: " + ", ".join(done))


NOISE = st.text(alphabet=st.sampled_from(list("[]{}:,-&*!|>'\"#%?<= \n\tab01.~@`\\")), max_size=120)
TOP_LEVEL = st.sampled_from(["", "\n", "---\n", "# a comment only\n", "...\n", "null\n", "~\n", "- a\n- b\n", "42\n",
                             "just a string\n", "[name, description]\n", "!!set {a, b}\n", "---\na: 1\n---\nb: 2\n"])


@st.composite
def raw_cases(draw: st.DrawFn) -> Case:
    """Noise that is not a scenario at all: YAML-ish characters, bytes, other top levels."""
    kind = draw(st.sampled_from(["noise", "bytes", "top-level", "unicode"]))
    if kind == "noise":
        content = draw(NOISE).encode()
    elif kind == "bytes":
        content = draw(st.binary(max_size=120))
    elif kind == "top-level":
        content = draw(TOP_LEVEL).encode()
    else:
        content = draw(st.text(max_size=60)).encode("utf-8", "surrogatepass")
    return Case("junk", content, False, f"raw: {kind}")
