"""Hostile YAML is refused quickly and in little memory, with file and line;
YAML merge keys work as YAML says (a mapping's own keys override merged ones)."""

import time
from pathlib import Path

import pytest

from chaos.errors import ConfigError
from chaos.spec.source import MAX_DEPTH, MAX_VALUES, parse_yaml

PATH = Path("t.yaml")

# Nine aliases of nine aliases, nine levels: 9**9 (387 million) values from 700 bytes.
BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi")
)
# The same through merge keys: PyYAML's own flatten_mapping would build every pair.
MERGE_BOMB = "a: &a {k1: 1, k2: 2, k3: 3, k4: 4, k5: 5, k6: 6, k7: 7, k8: 8, k9: 9}\n" + "".join(
    f"{n}: &{n} {{<<: [{', '.join([f'*{p}'] * 9)}]}}\n" for p, n in zip("abcdefgh", "bcdefghi")
)


def refusal(text: str) -> str:
    with pytest.raises(ConfigError) as e:
        parse_yaml(text, PATH)
    return str(e.value)


@pytest.mark.parametrize("text", [BILLION_LAUGHS, MERGE_BOMB])
def test_alias_bombs_are_refused_at_once(text):
    began = time.perf_counter()
    message = refusal(text)
    assert time.perf_counter() - began < 1.0
    assert f"more than {MAX_VALUES} values (aliases expanded)" in message and message.startswith("t.yaml:")


def test_a_bomb_inside_one_merge_is_refused_too():
    # Anchors defined inside the merge list itself: nothing is built before the merge.
    levels = ["&a {k1: 1, k2: 2, k3: 3, k4: 4, k5: 5, k6: 6, k7: 7, k8: 8, k9: 9}"]
    levels += [f"&{n} {{<<: [{', '.join([f'*{p}'] * 9)}]}}" for p, n in zip("abcdefgh", "bcdefghi")]
    assert "aliases expanded" in refusal("top: {<<: [" + ", ".join(levels) + "]}\n")


@pytest.mark.parametrize("text,expected", [
    ("a: " + "[" * 5000 + "]" * 5000, f"t.yaml:1: nested more than {MAX_DEPTH} levels deep"),
    ("a: " + "{a: " * 100 + "1" + "}" * 100, f"t.yaml:1: nested more than {MAX_DEPTH} levels deep"),
    ("a: &a [*a]\n", "t.yaml:1: an alias refers to a value that contains it"),
    ("a: &a {<<: *a}\n", "t.yaml:1: an alias refers to a value that contains it"),
    ("- 1\n" * 20_000, f"t.yaml:{MAX_VALUES}: more than {MAX_VALUES} values"),
    ("a: 1\nb: 2021-13-45\n", "t.yaml:2: b: cannot read '2021-13-45' as timestamp: month must be in 1..12"),
    ("a: !!int abc\n", "t.yaml:1: a: cannot read 'abc' as int"),
    ("a: !!timestamp soon\n", "t.yaml:1: a: cannot read 'soon' as timestamp"),
    ("a:\n  b: {<<: [1]}\n", "t.yaml:2: a.b.<<: merges a mapping or a list of mappings"),
    ("a: [1, " + "9" * 5000 + "]\n", "t.yaml:1: a[1]: cannot read '9999"),
])
def test_hostile_yaml_names_file_and_line(text, expected):
    message = refusal(text)
    assert message.startswith(expected), message
    assert "sys.set_int_max_str_digits" not in message


def test_merge_keys_are_overridden_by_the_mappings_own_keys():
    source = parse_yaml("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  x: 3\nagain: *b\n", PATH)
    assert source.data == {"base": {"x": 1, "y": 2}, "other": {"y": 2, "x": 3}, "again": {"x": 1, "y": 2}}
    assert source.line_of(("other", "x")) == 4


def test_in_a_merge_list_the_first_mapping_wins_and_own_keys_stay_unique():
    source = parse_yaml("a: &a {x: 1}\nb: &b {x: 2, y: 2}\nc: {<<: [*a, *b]}\n", PATH)
    assert source.data["c"] == {"x": 1, "y": 2}
    assert "t.yaml:2: c.x: duplicate key" in refusal("a: &a {x: 1}\nc: {<<: *a, x: 2, x: 3}\n")
