"""Spinlock core: the plugin contract, configuration, sampling, storage and the command line.

Importing this package is cheap: it never imports torch. Heavy modules (the rollout engine, HDF5 storage)
are imported where they are used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spinlock.core.hookspecs import hookimpl, hookspec
from spinlock.core.registry import ComponentKind, ComponentSpec, Registry

if TYPE_CHECKING:
    from spinlock.core.plugins import PluginManager

__version__ = "0.1.0"

__all__ = [
    "ComponentKind",
    "ComponentSpec",
    "Registry",
    "__version__",
    "get_plugin_manager",
    "hookimpl",
    "hookspec",
]


def get_plugin_manager(*, load_entry_points: bool = True) -> PluginManager:
    """Build a fresh plugin manager with core's own plugins and (optionally) the installed entry points."""
    from spinlock.core.plugins import build_plugin_manager

    return build_plugin_manager(load_entry_points=load_entry_points)
