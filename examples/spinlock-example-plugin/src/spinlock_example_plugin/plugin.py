"""The module named by the ``example`` entry point.

Spinlock imports this module while it loads plugins (for every ``spinlock`` command), so it stays light:
it imports attrs and the config class, and names the sampler itself as a ``"module:attr"`` string that is
imported only when a config selects ``kind: halton``.
"""

from __future__ import annotations

from spinlock.core import hookimpl
from spinlock.core.registry import SamplerRegistry
from spinlock_example_plugin.halton import HaltonConfig


@hookimpl
def spinlock_register_samplers(registry: SamplerRegistry) -> None:
    registry.add(
        "halton",
        config_cls=HaltonConfig,
        factory="spinlock_example_plugin.halton:HaltonSampler",
        summary="Halton sequence with seeded random-permutation scrambling (scipy.stats.qmc)",
        metadata={"low_discrepancy": True},
    )
