"""Architectures (``cnn``, ``u_afno``), batched by architecture signature.

Importing this package imports no torch: :mod:`.configs` and :mod:`.parameters` are attrs-only, and the
torch-backed names below are loaded on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CNNConfig": "configs",
    "UAFNOConfig": "configs",
    "apply_parameters": "parameters",
    "ParameterMappingError": "parameters",
    "ROLLOUT_PARAMETER_NAMES": "parameters",
    "architecture_signature": "batched",
    "architecture_name": "batched",
    "build_batched": "batched",
    "build_single": "batched",
    "BatchedOperator": "batched",
    "Architecture": "batched",
    "StackedCNN": "cnn",
    "StackedUAFNO": "u_afno",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
