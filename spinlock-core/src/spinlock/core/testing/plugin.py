"""pytest plugin shipped with spinlock-core (``pytest11`` entry point ``spinlock``).

Import-light on purpose: it is loaded by every pytest run in an environment with spinlock-core.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from spinlock.core.plugins import EntryPointInfo, PluginManager


@pytest.fixture
def plugin_manager() -> PluginManager:
    """A fresh plugin manager with core's components and every installed plugin; fails on broken plugins."""
    from spinlock.core.plugins import build_plugin_manager

    return build_plugin_manager(strict=True)


@pytest.fixture
def isolated_plugin_manager() -> PluginManager:
    """A fresh plugin manager with core's own components only (no entry points)."""
    from spinlock.core.plugins import build_plugin_manager

    return build_plugin_manager(load_entry_points=False, strict=True)


@pytest.fixture
def register_plugin() -> Callable[..., PluginManager]:
    """``register_plugin(obj, name="mine", entry_points=False)``: a fresh manager that also has ``obj``.

    Nothing global changes, so nothing needs undoing after the test.
    """
    from spinlock.core.plugins import build_plugin_manager

    def make(plugin: Any, *, name: str = "test-plugin", entry_points: bool = False) -> PluginManager:
        return build_plugin_manager(
            load_entry_points=entry_points, extra_plugins=[(name, plugin)], strict=False, warn=False
        )

    return make


@pytest.fixture
def fake_entry_points() -> Callable[..., PluginManager]:
    """``fake_entry_points(ep, ...)``: a manager built from fake entry points instead of installed ones."""
    from spinlock.core.plugins import build_plugin_manager

    def make(*entry_points: EntryPointInfo, strict: bool = False) -> PluginManager:
        return build_plugin_manager(entry_points=list(entry_points), strict=strict, warn=False)

    return make
