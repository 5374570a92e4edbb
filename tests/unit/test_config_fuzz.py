# Any change to a shipped file gives a valid object or a UserError, never another exception.
# Rules: every example starts from a file the project ships (the centre configs and the
# simulator's scenarios), read by the project's own YAML loader; mutations are made on the
# parsed tree (delete, add, rename keys; values of other types, huge, negative, NaN, deeply
# nested, with CR/LF/NUL, dates) and on the raw text (a few characters). A UserError must
# still be one line of bounded length. In CI the examples are derandomized (tests/conftest.py).
from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contactcenter.config import Config, parse_config, read_yaml
from contactcenter.errors import UserError
from contactcenter.sim.scenario import Scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
CENTRES = [ROOT / "config" / "010.yaml", ROOT / "tests" / "integration" / "010-test.yaml"]
SCENARIOS = sorted((ROOT / "sim" / "scenarios").glob("*.yaml"))
PARSERS: dict[Path, Callable[[object, str], object]] = {
    **{p: parse_config for p in CENTRES},
    **{p: parse_scenario for p in SCENARIOS},
}
TREES = {p: read_yaml(p) for p in PARSERS}
FILES = sorted(PARSERS)
MAX_MESSAGE = 1000  # file, field path, a value cut short, a problem: never a page

Path_ = tuple[str | int, ...]


def nested(depth: int, leaf: object) -> object:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, -1, 1, 9, 10, 65535, 65536, 2**63, 10**400, -(10**400)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 5e-324, 0.5, 23.999, 1e7 + 1]),
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            "a\r\nAction: Originate",
            "nul\0",
            "x" * 100_000,
            "none",
            "busiest",
            "all",
            "2026-02-30",
            "2026-12-25 10:00",
            "2010-08-05",
            "23:00",
            "24:00",
            "24:30",
            "ca",
            "fr",
            "info",
            "pjsip",
            "sim",
            "lognormal",
            "127.0.0.1",
            "10.0.0.1",
            "Europe/Madrid",
            "../../etc/passwd",
        ]
    ),
    st.dates(),
    st.datetimes(),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=4),
    st.dictionaries(st.text(max_size=6), scalars, max_size=3),
    st.builds(nested, st.integers(1, 3000), scalars),
)


def node_paths(tree: object, limit: int = 12) -> list[Path_]:
    """Every place in the tree (not below `limit` levels, where deep values were put)."""
    out: list[Path_] = []
    stack: list[tuple[Path_, object]] = [((), tree)]
    while stack:
        path, node = stack.pop()
        out.append(path)
        if len(path) >= limit:
            continue
        if isinstance(node, dict):
            stack.extend(((*path, k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in enumerate(node))
    return sorted(out, key=repr)


def at(tree: object, path: Path_) -> Any:
    node: Any = tree
    for key in path:
        node = node[key]
    return node


def near_miss(draw: st.DrawFn, key: str) -> str:
    i = draw(st.integers(0, len(key)))
    kind = draw(st.sampled_from(["drop", "add", "swap", "case"]))
    if kind == "drop" and key:
        return key[: max(i - 1, 0)] + key[i:]
    if kind == "add":
        return key[:i] + draw(st.sampled_from("aesx_-")) + key[i:]
    if kind == "swap" and len(key) > 1:
        i = min(i, len(key) - 2)
        return key[:i] + key[i + 1] + key[i] + key[i + 2 :]
    return key.upper()


@st.composite
def mutated_tree(draw: st.DrawFn) -> tuple[Path, object]:
    file = draw(st.sampled_from(FILES))
    tree: Any = copy.deepcopy(TREES[file])
    for _ in range(draw(st.integers(1, 4))):
        places = node_paths(tree)
        path = draw(st.sampled_from(places))
        op = draw(st.sampled_from(["delete", "set", "add", "rename", "copy", "wrap"]))
        if not path:  # the whole file
            if op in ("set", "wrap"):
                tree = draw(values) if op == "set" else [tree]
            continue
        parent, key = at(tree, path[:-1]), path[-1]
        if op == "delete":
            del parent[key]
        elif op == "set":
            parent[key] = draw(values)
        elif op == "copy":  # another part of the file, shared (it may hold a deep value)
            parent[key] = at(tree, draw(st.sampled_from(places)))
        elif op == "wrap":
            parent[key] = draw(
                st.sampled_from([[parent[key]], {"k": parent[key]}, [parent[key], parent[key]]])
            )
        elif isinstance(parent, dict) and isinstance(key, str):
            name = near_miss(draw, key) if draw(st.booleans()) else draw(st.text(max_size=8))
            if op == "add":
                parent[name] = draw(st.one_of(values, st.just(parent[key])))
            elif name not in parent:
                parent[name] = parent.pop(key)
    return file, tree


def check(parse: Callable[[object, str], object], raw: object, file: str) -> None:
    try:
        result = parse(raw, file)
    except UserError as exc:
        message = str(exc)
        assert "\n" not in message and "\r" not in message, message[:300]
        assert len(message) <= MAX_MESSAGE + len(file), message[:300]
    else:
        assert isinstance(result, Config | Scenario)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_tree())
def test_a_mutated_tree_gives_an_object_or_a_user_error(case: tuple[Path, object]) -> None:
    file, tree = case
    check(PARSERS[file], tree, str(file))


# Characters that mean something to YAML, and a few that should not appear at all.
_SYNTAX = st.sampled_from(
    [*":-[]{},#&*!|>'\"%@`?\n\t \r\0\\", "<<: ", "!!int ", "!!set ", "&a ", "*a", "---\n"]
)


@st.composite
def mutated_text(draw: st.DrawFn) -> tuple[Path, str]:
    file = draw(st.sampled_from(FILES))
    text = file.read_text(encoding="utf-8")
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["delete", "insert", "line"]))
        if op == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 20)) :]
        elif op == "insert":
            text = text[:i] + draw(st.one_of(_SYNTAX, st.text(min_size=1, max_size=4))) + text[i:]
        else:  # a line repeated elsewhere: repeated keys, wrong indentation
            lines = text.splitlines(keepends=True)
            line = draw(st.sampled_from(lines))
            lines.insert(draw(st.integers(0, len(lines))), line)
            text = "".join(lines)
    return file, text


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=mutated_text())
def test_mutated_text_gives_an_object_or_a_user_error(folder: Path, case: tuple[Path, str]) -> None:
    file, text = case
    path = folder / file.name
    path.write_text(text, encoding="utf-8")
    try:
        raw = read_yaml(path)
    except UserError as exc:
        assert "\n" not in str(exc)
        return
    check(PARSERS[file], raw, str(path))


def test_the_shipped_files_themselves_are_valid() -> None:
    # The fuzzing starts from valid files: otherwise every example would be the same error.
    for file, tree in TREES.items():
        assert isinstance(PARSERS[file](tree, str(file)), Config | Scenario)
