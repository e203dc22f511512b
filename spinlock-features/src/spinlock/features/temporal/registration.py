"""Registration of the TEMPORAL family (torch-free; called from the spinlock-features plugin)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from spinlock.features.temporal.config import TemporalConfig

if TYPE_CHECKING:
    from spinlock.core.registry import FeatureFamilyRegistry

#: version of the TEMPORAL family (bumped whenever a column's definition changes)
TEMPORAL_VERSION = "1.0"


def register_temporal(registry: FeatureFamilyRegistry) -> None:
    """Register the ``temporal`` feature family in a ``FeatureFamilyRegistry``."""
    registry.add(
        "temporal",
        config_cls=TemporalConfig,
        factory="spinlock.features.temporal.family:TemporalFamily",
        summary="TEMPORAL: per-timestep spatial, spectral and cross-channel statistics of the trajectory",
        metadata={"inputs": ["trajectory"], "per_timestep": True, "version": TEMPORAL_VERSION},
    )
