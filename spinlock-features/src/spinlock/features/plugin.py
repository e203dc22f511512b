"""Entry point of spinlock-features in the `spinlock` plugin group.

Components are registered here with lazy `"module:attr"` factories so that loading the plugin imports no torch.
"""

from __future__ import annotations

from typing import Any

from spinlock.core.hookspecs import hookimpl
from spinlock.core.registry import FeatureFamilyRegistry
from spinlock.features.configs import ArchitectureConfig, InitialConfig
from spinlock.features.summary.registration import register_summary
from spinlock.features.temporal.registration import register_temporal

#: versions of the first-party families (bumped whenever a column's definition changes)
INITIAL_VERSION = "1.0"
ARCHITECTURE_VERSION = "1.0"


@hookimpl
def spinlock_register_feature_families(registry: FeatureFamilyRegistry) -> None:
    registry.add(
        "initial",
        config_cls=InitialConfig,
        factory="spinlock.features.initial:InitialFamily",
        summary="INITIAL: per-channel spatial, spectral, information and morphological statistics of u0",
        metadata={"inputs": ["initial_condition"], "version": INITIAL_VERSION},
    )
    registry.add(
        "architecture",
        config_cls=ArchitectureConfig,
        factory="spinlock.features.architecture:ArchitectureFamily",
        summary="ARCHITECTURE: θ decoded into typed values, log scales, one-hot choices and size estimates",
        metadata={"inputs": ["parameters"], "version": ARCHITECTURE_VERSION},
    )
    register_summary(registry)
    register_temporal(registry)


@hookimpl
def spinlock_register_commands(app: Any) -> None:
    """``spinlock extract`` and ``spinlock visualize features`` (into the shared ``visualize`` group)."""
    from spinlock.features.extract_cli import register
    from spinlock.features.viz import register_visualize

    register(app)
    register_visualize(app)
