"""The sampling stage of a run: unit-cube points → typed parameters, with sample-quality metrics."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
from numpy.typing import NDArray

from spinlock.core.sampling.parameter_space import ParameterSpace
from spinlock.core.sampling.quality import SampleQuality, measure_quality

if TYPE_CHECKING:
    from spinlock.core.config.run import RunConfig
    from spinlock.core.registry import Components


class DeadDimensionWarning(UserWarning):
    """A sampled parameter can take one value only, so its unit-cube column is wasted."""


@attrs.frozen(eq=False)
class ParameterDraw:
    """Parameters of operators ``[start, start + n)``.

    :param unit: the sampler's points, shape ``(n, P)`` float64 in ``[0, 1)``.
    :param values: typed values per parameter name, each of shape ``(n,)``.
    :param quality: sample-quality metrics (``None`` when there is nothing to measure: ``P == 0``).
    """

    names: tuple[str, ...]
    unit: NDArray[np.float64]
    values: dict[str, NDArray[Any]]
    quality: SampleQuality | None
    space: list[dict[str, Any]]
    start: int = 0


def parameter_space(config: RunConfig) -> ParameterSpace | None:
    """The config's parameter space, or ``None`` when nothing is sampled."""
    return ParameterSpace(config.parameter_space) if config.parameter_space else None


def draw_parameters(
    config: RunConfig, components: Components, *, start: int = 0, n: int | None = None
) -> ParameterDraw:
    """Draw operators ``[start, start + n)`` of the run (all ``n_operators`` by default).

    Every slice equals the same rows of a full draw, so shards and resumed runs see identical θ.
    Quality metrics are measured only on full draws (``start == 0`` and ``n == n_operators``).
    """
    count = config.n_operators - start if n is None else n
    if start < 0 or count < 0 or start + count > config.n_operators:
        raise ValueError(f"rows [{start}, {start + count}) are outside [0, {config.n_operators})")
    space = parameter_space(config)
    if space is None:
        return ParameterDraw((), np.zeros((count, 0)), {}, None, [], start)
    for name in space.dead_dimensions():
        warnings.warn(
            f"parameter {name!r} can take one value only: it consumes a unit-cube dimension for nothing; "
            "make it a fixed setting instead",
            DeadDimensionWarning,
            stacklevel=2,
        )
    sampler = components.get(config.sampling.component_kind, config.sampling.kind).build(
        config.sampling.params
    )
    if start == 0 and count == config.n_operators:
        unit = sampler.sample(count, space.dimension, config.seed)
        quality: SampleQuality | None = measure_quality(unit)
    else:
        with warnings.catch_warnings():  # the size warning concerns the whole run, not a slice
            warnings.simplefilter("ignore")
            unit = sampler.sample(count, space.dimension, config.seed, start=start)
        quality = None
    return ParameterDraw(space.names, unit, space.map(unit), quality, space.describe(), start)
