"""The module named by the ``wavelet`` entry point.

Spinlock imports this module while it loads plugins (for every ``spinlock`` command), so it stays light: it
imports attrs and the config class only, and names the family as a ``"module:attr"`` string that is imported
(with torch) only when the family is built.
"""

from __future__ import annotations

from spinlock.core import hookimpl
from spinlock.core.registry import FeatureFamilyRegistry
from spinlock_wavelet_features.config import WAVELET_VERSION, WaveletConfig


@hookimpl
def spinlock_register_feature_families(registry: FeatureFamilyRegistry) -> None:
    """Register the ``wavelet`` feature family."""
    registry.add(
        "wavelet",
        config_cls=WaveletConfig,
        factory="spinlock_wavelet_features.family:WaveletFamily",
        summary="WAVELET: Haar wavelet energy shares per level, band and channel",
        metadata={"inputs": ["trajectory"], "per_timestep": False, "version": WAVELET_VERSION},
    )
