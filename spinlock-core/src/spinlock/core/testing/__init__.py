"""Test helpers for Spinlock plugin authors.

Installed with spinlock-core and auto-loaded by pytest (``pytest11`` entry point), so a plugin's test suite
gets these fixtures without configuration:

- ``plugin_manager``: a fresh manager with core's components and the installed plugins (strict);
- ``isolated_plugin_manager``: core's components only, no entry points;
- ``register_plugin``: ``register_plugin(obj, name=...)`` returns a fresh manager that also has ``obj``;
- ``fake_entry_points``: ``fake_entry_points(FakeEntryPoint(...), ...)`` builds a manager from fakes.

Contract checks (``check_component`` and the per-kind checks that packages add) live in
:mod:`spinlock.core.testing.contracts`.
"""

from spinlock.core.testing.contracts import ContractViolation, check_component, contract_check
from spinlock.core.testing.fakes import FakeEntryPoint

__all__ = ["ContractViolation", "FakeEntryPoint", "check_component", "contract_check"]
