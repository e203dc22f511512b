"""Core's own components, registered directly rather than through an entry point."""

from __future__ import annotations

from spinlock.core.hookspecs import hookimpl
from spinlock.core.registry import SamplerRegistry
from spinlock.core.sampling.configs import RandomConfig, SobolConfig


@hookimpl
def spinlock_register_samplers(registry: SamplerRegistry) -> None:
    registry.add(
        "sobol",
        config_cls=SobolConfig,
        factory="spinlock.core.sampling.sobol:SobolSampler",
        summary="Sobol sequence with seeded Owen (nested uniform) scrambling",
    )
    registry.add(
        "random",
        config_cls=RandomConfig,
        factory="spinlock.core.sampling.random:RandomSampler",
        summary="Independent uniform points (baseline for comparison)",
    )
