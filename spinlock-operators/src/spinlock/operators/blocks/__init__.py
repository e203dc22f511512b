"""Operator building blocks, each stackable over many operators (see :mod:`.base` for the layout).

Importing this package imports no torch: :mod:`.configs` is attrs-only (the plugin registers blocks with it),
and the module classes below are loaded on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "StackedModule": "base",
    "StackedNorm": "base",
    "activation_fn": "base",
    "StackedConv2d": "conv",
    "ConvBlock": "conv",
    "ResidualBlock": "residual",
    "Downsample": "downsample",
    "Upsample": "upsample",
    "upsample2x": "upsample",
    "SpectralConv": "spectral",
    "max_modes": "spectral",
    "check_modes": "spectral",
    "AFNOFilter": "afno",
    "AFNOBlock": "afno",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
