"""Every hook specification of Spinlock, in one place.

Plugins implement these with :data:`spinlock.core.hookimpl`. Registration hooks receive a typed registry
and add :class:`~spinlock.core.registry.ComponentSpec` objects to it; the registry records which plugin and
distribution provided each spec. A plugin module must stay import-light: it names its factories as
``"module:attr"`` strings so that nothing heavy (torch) is imported until a component is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from spinlock.core.registry import (
        EncoderRegistry,
        ExecutorRegistry,
        FeatureFamilyRegistry,
        InitialConditionRegistry,
        OperatorBlockRegistry,
        SamplerRegistry,
    )

PROJECT_NAME = "spinlock"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def spinlock_register_samplers(registry: SamplerRegistry) -> None:
    """Register parameter samplers (points in the unit cube).

    .. versionadded:: 0.1

    :param registry: the sampler registry; call ``registry.add(...)`` once per sampler.

    Example::

        @hookimpl
        def spinlock_register_samplers(registry):
            registry.add(
                "halton",
                config_cls=HaltonConfig,
                factory="my_plugin.halton:HaltonSampler",
                summary="Scrambled Halton sequence",
            )
    """


@hookspec
def spinlock_register_operator_blocks(registry: OperatorBlockRegistry) -> None:
    """Register operator building blocks and whole architectures (``cnn``, ``u_afno``).

    .. versionadded:: 0.1

    :param registry: the operator-block registry.

    Example::

        @hookimpl
        def spinlock_register_operator_blocks(registry):
            registry.add(
                "gabor_conv",
                config_cls=GaborConvConfig,
                factory="my_plugin.blocks:GaborConv",
                summary="Convolution with a Gabor filter bank",
                metadata={"role": "block"},
            )
    """


@hookspec
def spinlock_register_initial_conditions(registry: InitialConditionRegistry) -> None:
    """Register initial-condition generators.

    .. versionadded:: 0.1

    :param registry: the initial-condition registry. Put the generator's tier in ``metadata``.

    Example::

        @hookimpl
        def spinlock_register_initial_conditions(registry):
            registry.add(
                "vortex_pair",
                config_cls=VortexPairConfig,
                factory="my_plugin.ics:vortex_pair",
                summary="Two counter-rotating Gaussian vortices",
                metadata={"tier": 1},
            )
    """


@hookspec
def spinlock_register_feature_families(registry: FeatureFamilyRegistry) -> None:
    """Register feature families (named columns computed from an IC, θ or a trajectory).

    .. versionadded:: 0.1

    :param registry: the feature-family registry.

    Example::

        @hookimpl
        def spinlock_register_feature_families(registry):
            registry.add(
                "wavelet",
                config_cls=WaveletConfig,
                factory="my_plugin.wavelet:WaveletFamily",
                summary="Haar wavelet energy per scale",
            )
    """


@hookspec
def spinlock_register_encoders(registry: EncoderRegistry) -> None:
    """Register encoders: models that turn features or trajectories into latents or tokens.

    .. versionadded:: 0.1

    :param registry: the encoder registry.

    Example::

        @hookimpl
        def spinlock_register_encoders(registry):
            registry.add(
                "pca_tokenizer",
                config_cls=PCATokenizerConfig,
                factory="my_plugin.pca:PCATokenizer",
                summary="Quantised principal components",
            )
    """


@hookspec
def spinlock_register_executors(registry: ExecutorRegistry) -> None:
    """Register executors: engines that run generation shards (in-process, Dask, ...).

    .. versionadded:: 0.1

    :param registry: the executor registry.

    Example::

        @hookimpl
        def spinlock_register_executors(registry):
            registry.add(
                "ray",
                config_cls=RayExecutorConfig,
                factory="my_plugin.ray_executor:RayExecutor",
                summary="Run shards as Ray tasks",
            )
    """


@hookspec
def spinlock_register_commands(app: Any) -> None:
    """Add commands to the ``spinlock`` command line.

    .. versionadded:: 0.1

    :param app: the root ``typer.Typer`` application. Import heavy modules inside the command body.

    Example::

        @hookimpl
        def spinlock_register_commands(app):
            @app.command("hello")
            def hello(name: str = "world") -> None:
                print(f"hello {name}")
    """
