"""Every hook specification is documented: in its docstring and on docs/plugins.md."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from spinlock.core import hookspecs

ROOT = Path(__file__).resolve().parents[2]
PLUGINS_DOC = ROOT / "docs" / "plugins.md"
SPEC_MARKER = f"{hookspecs.PROJECT_NAME}_spec"


def hook_specs() -> list:
    return [
        fn
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("spinlock_") and hasattr(fn, SPEC_MARKER)
    ]


HOOKS = hook_specs()


def test_hookspecs_are_found():
    names = {fn.__name__ for fn in HOOKS}
    assert {
        "spinlock_register_samplers",
        "spinlock_register_operator_blocks",
        "spinlock_register_initial_conditions",
        "spinlock_register_feature_families",
        "spinlock_register_encoders",
    } <= names


def test_no_spinlock_function_in_hookspecs_is_left_unmarked():
    unmarked = [
        name
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("spinlock_") and not hasattr(fn, SPEC_MARKER)
    ]
    assert unmarked == []


@pytest.mark.parametrize("hook", HOOKS, ids=lambda fn: fn.__name__)
def test_docstring_has_an_example_and_a_version(hook):
    doc = inspect.getdoc(hook) or ""
    assert doc.strip(), f"{hook.__name__} has no docstring"
    assert "Example::" in doc, f"{hook.__name__}: docstring has no 'Example::' block"
    example = doc.split("Example::", 1)[1]
    assert f"def {hook.__name__}(" in example, f"{hook.__name__}: the example does not implement the hook"
    assert "@hookimpl" in example
    assert re.search(r"^\.\. versionadded:: \d+(\.\d+)*\s*$", doc, re.MULTILINE), (
        f"{hook.__name__}: docstring has no '.. versionadded::'"
    )
    for argument in inspect.signature(hook).parameters:
        assert f":param {argument}:" in doc, f"{hook.__name__}: argument {argument!r} is not documented"


@pytest.mark.parametrize("hook", HOOKS, ids=lambda fn: fn.__name__)
def test_plugins_page_shows_each_hook(hook):
    text = PLUGINS_DOC.read_text()
    arguments = ", ".join(inspect.signature(hook).parameters)
    assert f"`{hook.__name__}({arguments})`" in text, f"docs/plugins.md does not name {hook.__name__}"
    assert f"def {hook.__name__}({arguments}" in text, f"docs/plugins.md has no example of {hook.__name__}"


def test_plugins_page_names_the_environment_variables():
    text = PLUGINS_DOC.read_text()
    for variable in ("SPINLOCK_STRICT_PLUGINS", "SPINLOCK_DISABLE_PLUGINS"):
        assert variable in text
