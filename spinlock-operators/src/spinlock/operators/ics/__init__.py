"""The 28 initial-condition types of Spinlock, in five tiers (see ``docs/initial-conditions.md``).

- :mod:`.configs`: the attrs config of every type (torch-free: the plugin module imports only this);
- :mod:`.base`: the generator protocol and shared helpers (per-sample draws, spectral filtering);
- :mod:`.baseline`, :mod:`.tier1` … :mod:`.tier4`: the generators;
- :mod:`.mixture`: assigning mixture variants to operators and generating a batch of a mixture.

This package's ``__init__`` imports nothing heavy; ``assign_variants``, ``generate_initial_conditions`` and
``default_mixture`` are loaded on first access.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "assign_variants": "spinlock.operators.ics.mixture",
    "default_mixture": "spinlock.operators.ics.mixture",
    "generate_initial_conditions": "spinlock.operators.ics.mixture",
    "InitialConditionGenerator": "spinlock.operators.ics.base",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
