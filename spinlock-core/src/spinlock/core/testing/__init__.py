"""Test helpers for Spinlock plugin authors.

Installed with spinlock-core and auto-loaded by pytest (``pytest11`` entry point), so a plugin's test suite
gets these fixtures without configuration:

- ``plugin_manager``: a fresh manager with core's components and the installed plugins (strict);
- ``isolated_plugin_manager``: core's components only, no entry points;
- ``register_plugin``: ``register_plugin(obj, name=...)`` returns a fresh manager that also has ``obj``;
- ``fake_entry_points``: ``fake_entry_points(FakeEntryPoint(...), ...)`` builds a manager from fakes.

Contract checks (``check_component`` and the per-kind checks that packages add) live in
:mod:`spinlock.core.testing.contracts`; tiny datasets (``make_tiny_dataset``) in
:mod:`spinlock.core.testing.datasets`, and ``assert_datasets_identical`` (two files hold bit-identical content)
in :mod:`spinlock.core.testing.compare`, imported on first use so that pytest start-up stays light.
"""

from typing import Any

from spinlock.core.testing.contracts import ContractViolation, check_component, contract_check
from spinlock.core.testing.fakes import FakeEntryPoint
from spinlock.core.testing.feature_families import check_feature_family as check_feature_family
from spinlock.core.testing.initial_conditions import check_initial_condition as check_initial_condition

__all__ = [
    "ContractViolation",
    "FakeEntryPoint",
    "assert_datasets_identical",
    "check_component",
    "contract_check",
    "make_tiny_dataset",
]


def __getattr__(name: str) -> Any:
    if name == "make_tiny_dataset":
        from spinlock.core.testing.datasets import make_tiny_dataset

        return make_tiny_dataset
    if name == "assert_datasets_identical":
        from spinlock.core.testing.compare import assert_datasets_identical

        return assert_datasets_identical
    raise AttributeError(name)
