"""The full run configuration: one section per pipeline stage.

Core owns the structure and the sections it consumes itself (sampling, grid, rollout, storage). Sections
consumed by other distributions are component references whose ``params`` class belongs to the plugin that
registered the component: ``operator`` (spinlock-operators), ``initial_conditions`` (spinlock-operators),
``features`` (spinlock-features), ``vqvae`` (spinlock-vqvae), ``noa`` (spinlock-noa), ``executor``. A
section whose package is not installed is simply left out of the YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Union

import attrs

from spinlock.core.config.components import (
    EncoderRef,
    ExecutorRef,
    FeatureFamilyRef,
    InitialConditionRef,
    OperatorRef,
    SamplerRef,
)
from spinlock.core.config.validators import non_negative, one_of, positive, unit_interval
from spinlock.core.sampling.configs import SobolConfig
from spinlock.core.sampling.parameter_space import PARAMETER_TYPES

#: One entry of ``parameter_space``: a tagged union on the YAML key ``type``.
ParameterSpec = Union[tuple(PARAMETER_TYPES.values())]  # type: ignore[valid-type]  # noqa: UP007


def _at_least(minimum: int) -> Any:
    return attrs.validators.ge(minimum)


@attrs.frozen
class GridConfig:
    """The spatial domain: ``(channels, height, width)`` of every field."""

    height: int = attrs.field(default=64, validator=_at_least(4))
    width: int = attrs.field(default=64, validator=_at_least(4))
    channels: int = attrs.field(default=3, validator=_at_least(1))


@attrs.frozen
class NoiseConfig:
    """Stochastic forcing added at each rollout step.

    :param type: ``gaussian`` or ``laplace`` (additive), ``multiplicative`` (``u * (1 + σ ξ)``).
    :param scale: σ, the noise standard deviation at full schedule.
    :param correlation_length: spatial correlation length in grid cells (0 = white noise).
    :param schedule: ``constant``, ``annealing`` (σ decays to ``scale * final_fraction`` over the rollout) or
        ``periodic`` (σ oscillates with ``period`` steps).
    """

    type: str = attrs.field(default="gaussian", validator=one_of("gaussian", "laplace", "multiplicative"))
    scale: float = attrs.field(default=0.01, validator=non_negative)
    correlation_length: float = attrs.field(default=0.0, validator=non_negative)
    schedule: str = attrs.field(default="constant", validator=one_of("constant", "annealing", "periodic"))
    period: int = attrs.field(default=16, validator=_at_least(1))
    final_fraction: float = attrs.field(default=0.1, validator=unit_interval)


@attrs.frozen
class RolloutConfig:
    """T steps × M realizations of every operator.

    :param policy: ``autoregressive`` (u ← f(u)), ``residual`` (u ← u + dt·f(u)) or ``convex``
        (u ← α u + (1-α) f(u): α is the weight kept on the previous state).
    :param divergence_threshold: a realization whose max |u| exceeds this (or turns non-finite) is diverged.
    """

    steps: int = attrs.field(default=32, validator=_at_least(1))
    realizations: int = attrs.field(default=3, validator=_at_least(1))
    policy: str = attrs.field(default="convex", validator=one_of("autoregressive", "residual", "convex"))
    dt: float = attrs.field(default=0.1, validator=positive)
    alpha: float = attrs.field(default=0.5, validator=unit_interval)
    noise: NoiseConfig = attrs.field(factory=NoiseConfig)
    divergence_threshold: float = attrs.field(default=1.0e4, validator=positive)


@attrs.frozen
class StorageConfig:
    """How the dataset is written.

    :param store_trajectories: keep every ``trajectory_stride``-th state (T' = ceil(T / stride)).
    :param trajectory_dtype: ``float32`` or ``float16`` (opt-in halving of the largest array).
    :param compression: ``none`` (default: float32 barely compresses), ``lzf`` or ``gzip``.
    """

    store_trajectories: bool = False
    trajectory_stride: int = attrs.field(default=1, validator=_at_least(1))
    trajectory_dtype: str = attrs.field(default="float32", validator=one_of("float32", "float16"))
    compression: str = attrs.field(default="none", validator=one_of("none", "lzf", "gzip"))


#: seeds are stored as int64 in datasets
MAX_SEED = 2**63 - 1


def _default_sampler() -> SamplerRef:
    return SamplerRef(kind="sobol", params=SobolConfig())


@attrs.frozen
class RunConfig:
    """Everything ``spinlock generate`` needs, and the training sections that follow it.

    :param n_operators: N, the number of sampled operators (a power of two keeps Sobol's balance).
    :param parameter_space: sampled parameters in unit-cube column order.
    """

    seed: int = attrs.field(default=0, validator=[_at_least(0), attrs.validators.le(MAX_SEED)])
    n_operators: int = attrs.field(default=64, validator=_at_least(1))
    grid: GridConfig = attrs.field(factory=GridConfig)
    sampling: SamplerRef = attrs.field(factory=_default_sampler)
    parameter_space: Mapping[str, ParameterSpec] = attrs.field(factory=dict)  # type: ignore[valid-type]
    operator: OperatorRef | None = None
    initial_conditions: Mapping[str, InitialConditionRef] = attrs.field(factory=dict)
    rollout: RolloutConfig = attrs.field(factory=RolloutConfig)
    features: tuple[FeatureFamilyRef, ...] = attrs.field(default=())
    storage: StorageConfig = attrs.field(factory=StorageConfig)
    executor: ExecutorRef | None = None
    vqvae: EncoderRef | None = None
    noa: EncoderRef | None = None

    @parameter_space.validator
    def _check_names(self, attribute: attrs.Attribute[object], value: Mapping[str, object]) -> None:
        for name in value:
            if not name.isidentifier():
                raise ValueError(f"'{attribute.name}' names must be identifiers: {name!r}")

    @features.validator
    def _check_features(
        self, attribute: attrs.Attribute[object], value: tuple[FeatureFamilyRef, ...]
    ) -> None:
        kinds = [ref.kind for ref in value]
        twice = sorted({kind for kind in kinds if kinds.count(kind) > 1})
        if twice:
            raise ValueError(f"'{attribute.name}' lists {', '.join(map(repr, twice))} more than once")

    @initial_conditions.validator
    def _check_weights(
        self, attribute: attrs.Attribute[object], value: Mapping[str, InitialConditionRef]
    ) -> None:
        if value and sum(ref.weight for ref in value.values()) <= 0:
            raise ValueError(f"'{attribute.name}' weights must not all be zero")
