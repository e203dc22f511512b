"""Registration of the SUMMARY family (torch-free; called from the spinlock-features plugin)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from spinlock.features.summary.config import SummaryConfig

if TYPE_CHECKING:
    from spinlock.core.registry import FeatureFamilyRegistry

#: version of the SUMMARY family (bumped whenever a column's definition changes)
SUMMARY_VERSION = "1.0"


def register_summary(registry: FeatureFamilyRegistry) -> None:
    """Register the ``summary`` feature family in a ``FeatureFamilyRegistry``."""
    registry.add(
        "summary",
        config_cls=SummaryConfig,
        factory="spinlock.features.summary.family:SummaryFamily",
        summary="SUMMARY: per-trajectory statistics in 12 categories, aggregated over realizations",
        metadata={"inputs": ["trajectory"], "per_timestep": False, "version": SUMMARY_VERSION},
    )
