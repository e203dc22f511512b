"""Config fuzzing: random mutations of the shipped configs always give a ConfigError naming the path.

The three embedded default configs (the quick run, ``train-vqvae``'s and ``train-noa``'s) are mutated at a
random key: a value of the wrong type, an out-of-range number, a deleted or an extra key, a typo in a key,
an unknown component kind. Loading the result either works (some mutations leave a valid config, e.g.
deleting a key that has a default) or raises :class:`ConfigError` whose problems all carry a ``$``-path, one
of them on the mutated key (or its section, or a key inside the replacement). Text-level mutations (syntax
errors) and file-level ones (empty, binary, non-UTF-8, a directory) must give a ConfigError too. Through the
command line the same inputs exit with code 2, print ``error: ...`` with the path, and never a traceback.
"""

from __future__ import annotations

import copy
import datetime
import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from spinlock.core.config import ConfigError, RunConfig, load_config, loads_config, make_converter
from spinlock.core.config.errors import ROOT
from spinlock.core.defaults import quick_config_path

vqvae_config = pytest.importorskip("spinlock.vqvae.config")
noa_config = pytest.importorskip("spinlock.noa.config")

PathPart = str | int
KeyPath = tuple[PathPart, ...]


# -- the configs under test -----------------------------------------------------------------------------


class Target:
    """One shipped config: its parsed data, its class and a converter that can structure it."""

    def __init__(self, name: str, path: Path, cls: type, converter_factory: Callable[[], Any]) -> None:
        self.name = name
        self.path = path
        self.cls = cls
        self.data = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.converter = converter_factory()
        self.paths = list(_walk(self.data))
        self.mappings = [p for p in [(), *self.paths] if isinstance(_get(self.data, p), dict)]
        self.keys = [p for p in self.paths if isinstance(p[-1], str)]
        self.kinds = [p for p in self.keys if p[-1] == "kind"]
        self.numbers = [p for p in self.paths if _is_number(_get(self.data, p))]

    def load_text(self, text: str) -> Any:
        return loads_config(text, self.cls, self.converter, f"{self.name}.yaml")


def _run_converter() -> Any:
    from spinlock.core.plugins import build_plugin_manager

    return make_converter(build_plugin_manager().components)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _walk(data: Any, prefix: KeyPath = ()) -> Any:
    items: Any = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        yield (*prefix, key)
        yield from _walk(value, (*prefix, key))


def _get(data: Any, path: KeyPath) -> Any:
    for part in path:
        data = data[part]
    return data


def render(path: KeyPath) -> str:
    """The loader's notation: ``$.rollout.steps``, ``$.features[0].kind``, ``$.x['not-an-identifier']``."""
    out = ROOT
    for part in path:
        out += f".{part}" if isinstance(part, str) and part.isidentifier() else f"[{part!r}]"
    return out


TARGET_NAMES = ("quick", "vqvae", "noa")


@functools.cache
def get_target(name: str) -> Target:
    """The shipped config ``name``, parsed once per test session."""
    if name == "quick":
        return Target("quick", quick_config_path(), RunConfig, _run_converter)
    if name == "vqvae":
        return Target(
            "vqvae", vqvae_config.default_config_path(), vqvae_config.TokenizerConfig, make_converter
        )
    return Target("noa", noa_config.default_config_path(), noa_config.NOAConfig, make_converter)


# -- mutations ------------------------------------------------------------------------------------------

ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(-3, 3) | st.text(max_size=3), max_size=3),
    st.dictionaries(st.text(max_size=6), st.integers(-3, 3) | st.none(), max_size=2),
    st.dates(min_value=datetime.date(1990, 1, 1), max_value=datetime.date(2030, 1, 1)),
    st.binary(max_size=4),
)
OUT_OF_RANGE = st.sampled_from([0, -1, -(2**31), 2**64, 1e308, -1e-9, math.nan, math.inf, -math.inf])
EXTRA_KEYS = st.one_of(
    st.text(min_size=1, max_size=10), st.integers(-5, 5), st.none(), st.booleans(), st.floats(0, 1)
)


@st.composite
def mutations(draw: st.DrawFn, target: Target) -> tuple[str, KeyPath, Any]:
    """``(what, path, mutated data)`` for one random mutation of ``target.data``."""
    data = copy.deepcopy(target.data)
    what = draw(st.sampled_from(["replace", "out_of_range", "delete", "extra_key", "typo_key", "kind"]))
    if what == "out_of_range" and target.numbers:
        path = draw(st.sampled_from(target.numbers))
        _set(data, path, draw(OUT_OF_RANGE))
    elif what == "delete":
        path = draw(st.sampled_from(target.keys))
        del _get(data, path[:-1])[path[-1]]
    elif what == "extra_key":
        path = draw(st.sampled_from(target.mappings))
        mapping = _get(data, path)
        key = draw(EXTRA_KEYS.filter(lambda k: k not in mapping))
        mapping[key] = draw(ODD_VALUES)
    elif what == "typo_key":
        path = draw(st.sampled_from(target.keys))
        parent, key = _get(data, path[:-1]), path[-1]
        assert isinstance(key, str)
        position = draw(st.integers(0, len(key)))
        typo = key[:position] + draw(st.sampled_from("xz_")) + key[position + 1 :]
        if typo != key and typo not in parent:
            parent[typo] = parent.pop(key)
        path = path[:-1]  # an unknown key is reported at its mapping
    elif what == "kind" and target.kinds:
        path = draw(st.sampled_from(target.kinds))
        _set(data, path, draw(st.text(max_size=12) | ODD_VALUES))
    else:
        what = "replace"
        path = draw(st.sampled_from(target.paths))
        _set(data, path, draw(ODD_VALUES))
    return what, path, data


def _set(data: Any, path: KeyPath, value: Any) -> None:
    _get(data, path[:-1])[path[-1]] = value


def related(problem_path: str, mutated: str) -> bool:
    """A problem at the mutated key, inside it (a replacement mapping) or at one of its sections."""

    def within(inner: str, outer: str) -> bool:
        return inner == outer or inner.startswith((outer + ".", outer + "["))

    if within(problem_path, mutated):
        return True
    return (problem_path != ROOT and within(mutated, problem_path)) or mutated == ROOT


def check_outcome(target: Target, text: str, mutated: str | None) -> None:
    """Loading ``text`` either works or raises a ConfigError whose problems all carry a path."""
    error: ConfigError | None = None
    try:
        config = target.load_text(text)
    except ConfigError as exc:
        error = exc
    if error is None:
        assert isinstance(config, target.cls)
        return
    assert error.problems, "a ConfigError lists at least one problem"
    for problem in error.problems:
        assert problem.path.startswith(ROOT), problem
        assert problem.message and "Traceback" not in problem.message, problem
        assert f" @ {problem.path}" in str(error), str(error)
    if mutated is not None:
        assert any(related(p.path, mutated) for p in error.problems), f"no problem names {mutated}: {error}"


# -- the properties -------------------------------------------------------------------------------------

FUZZ = settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_shipped_defaults_load(name: str) -> None:
    target = get_target(name)
    assert isinstance(target.load_text(target.path.read_text(encoding="utf-8")), target.cls)


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_mutated_configs_fail_with_a_path(name: str) -> None:
    target = get_target(name)

    @FUZZ
    @given(mutations(target))
    def check(mutation: tuple[str, KeyPath, Any]) -> None:
        _what, path, data = mutation
        check_outcome(target, yaml.safe_dump(data, sort_keys=False, allow_unicode=True), render(path))

    check()


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_damaged_yaml_text_fails_cleanly(name: str) -> None:
    target = get_target(name)
    text = target.path.read_text(encoding="utf-8")

    @settings(max_examples=100, deadline=None, derandomize=True)
    @given(
        st.integers(0, len(text)),
        st.integers(0, 8),
        st.text(alphabet=":{}[]-,&*!|>'\"%@`#\t\n ?", max_size=4),
    )
    def check(position: int, cut: int, junk: str) -> None:
        check_outcome(target, text[:position] + junk + text[position + cut :], None)

    check()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the file is empty"),
        (b"# only a comment\n", "the file is empty"),
        (b"\x89HDF\r\n\x1a\n\x00\x00\x00\x00", "binary file"),
        (b"seed: caf\xe9\n", "not UTF-8"),
        (b"- 1\n- 2\n", "expected a mapping at the top level"),
        (b"seed: [1\n", "invalid YAML at line"),
        (b"seed: 1\nseed: 2\n", "duplicate key 'seed'"),
        (b"rollout:\n  steps: 1\n  steps: 2\n", "duplicate key 'steps'"),
        (b"1: 2\n", "unknown key 1"),
        (b"~: 2\n", "unknown key None"),
        (b"features: summary\n", "expected a list"),
    ],
)
def test_bad_run_config_files(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    converter = get_target("quick").converter
    with pytest.raises(ConfigError, match=r"@ \$") as info:
        load_config(path, RunConfig, converter)
    assert expected in str(info.value)
    assert str(path) in str(info.value)


def test_a_directory_or_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    converter = get_target("quick").converter
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path, RunConfig, converter)
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml", RunConfig, converter)


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("initial_conditions: {a: {kind: structured, weight: x}}", "$.initial_conditions.a.weight"),
        ("seed: 99999999999999999999999999", "$.seed"),
        ("features: [{kind: summary}, {kind: summary}]", "$.features"),
        ("parameter_space: {a: {type: [1]}}", "$.parameter_space.a.type"),
        ("rollout: null", "$.rollout"),
        ("grid: [1, 2]", "$.grid"),
    ],
)
def test_specific_problems_name_their_key(text: str, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        get_target("quick").load_text(text)
    assert [p.path for p in info.value.problems] == [path], str(info.value)
    message = info.value.problems[0].message
    assert not message.startswith(("expected Any", "expected Union")), message
    assert "object has no attribute" not in message and "not iterable" not in message, message


# -- through the command line ---------------------------------------------------------------------------

#: target → the command that loads its config before touching anything else
COMMANDS: dict[str, Callable[[Path, Path], list[str]]] = {
    "quick": lambda config, _tmp: ["validate-config", str(config)],
    "vqvae": lambda config, tmp: ["train-vqvae", "-d", str(tmp / "none.h5"), "-o", str(tmp / "o"), "-c", str(config)],
    "noa": lambda config, tmp: [
        "train-noa", "-d", str(tmp / "none.h5"), "--vqvae", str(tmp / "v"), "-o", str(tmp / "o"), "-c", str(config)
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_cli_rejects_mutated_configs_with_exit_2(
    name: str, cli: Any, clean_failure: Any, tmp_path: Path
) -> None:
    target = get_target(name)
    config = tmp_path / "config.yaml"

    @settings(max_examples=12, deadline=None, derandomize=True)
    @given(mutations(target))
    def check(mutation: tuple[str, KeyPath, Any]) -> None:
        _what, _path, data = mutation
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        try:
            target.load_text(text)
        except ConfigError as exc:
            config.write_text(text, encoding="utf-8")
            result = cli(*COMMANDS[name](config, tmp_path))
            clean_failure(result, str(config), "@ $", exc.problems[0].path)

    check()


@pytest.mark.parametrize("name", TARGET_NAMES)
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\x00\x01\x02binary", "binary file"),
        (b"a: \xff\xfe\n", "not UTF-8"),
        (b"a: [\n", "invalid YAML"),
        (b"- 1\n", "expected a mapping"),
        (None, "is a directory"),
    ],
)
def test_cli_rejects_unreadable_config_files(
    name: str, content: bytes | None, expected: str, cli: Any, clean_failure: Any, tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    if content is None:
        config.mkdir()
    else:
        config.write_bytes(content)
    clean_failure(cli(*COMMANDS[name](config, tmp_path)), str(config), expected, "@ $")
