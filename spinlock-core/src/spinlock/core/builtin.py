"""Core's own components, registered directly rather than through an entry point."""

from __future__ import annotations

from spinlock.core.executors.configs import DaskExecutorConfig, LocalExecutorConfig
from spinlock.core.hookspecs import hookimpl
from spinlock.core.registry import ExecutorRegistry, SamplerRegistry
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


@hookimpl
def spinlock_register_executors(registry: ExecutorRegistry) -> None:
    registry.add(
        "local",
        config_cls=LocalExecutorConfig,
        factory="spinlock.core.executors.local:LocalExecutor",
        summary="Run generation shards in this process, one after another",
    )
    registry.add(
        "dask",
        config_cls=DaskExecutorConfig,
        factory="spinlock.core.executors.dask_executor:DaskExecutor",
        summary="Run generation shards on a Dask cluster (LocalCluster or a scheduler address)",
        metadata={"extra": "spinlock-core[dask]"},
    )
