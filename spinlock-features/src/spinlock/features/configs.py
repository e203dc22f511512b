"""Configs of the feature families (torch-free, so that loading the plugin imports no torch)."""

from __future__ import annotations

import attrs

#: categories of the INITIAL family, in column order
INITIAL_CATEGORIES: tuple[str, ...] = ("spatial", "spectral", "information", "morphological", "cross_channel")


def _check_initial_categories(
    instance: object, attribute: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]
) -> None:
    unknown = [c for c in value if c not in INITIAL_CATEGORIES]
    if unknown:
        raise ValueError(f"unknown INITIAL categories {unknown}; known: {list(INITIAL_CATEGORIES)}")
    if not value:
        raise ValueError("INITIAL needs at least one category")


@attrs.frozen
class InitialConfig:
    """INITIAL family: statistics of the initial condition u0, per channel.

    :param categories: enabled categories (every enabled column is computed and stored).
    :param histogram_bins: bins of the histogram entropy, spread over the sample's own robust range.
    :param robust_quantile: the histogram range is ``[q, 1 - q]`` quantiles of the sample's channel.
    """

    categories: tuple[str, ...] = attrs.field(
        default=INITIAL_CATEGORIES, converter=tuple, validator=_check_initial_categories
    )
    histogram_bins: int = attrs.field(default=32, validator=attrs.validators.ge(2))
    robust_quantile: float = attrs.field(
        default=0.01, validator=[attrs.validators.ge(0.0), attrs.validators.lt(0.5)]
    )


@attrs.frozen
class ArchitectureConfig:
    """ARCHITECTURE family: θ decoded into typed, named, unit-free columns.

    :param unit_positions: also emit ``<param>_unit``, the position of integer/continuous values in their
        range (on the log scale for log parameters), in [0, 1].
    :param base_channels: the operator width when it is fixed outside θ (a ``base_channels`` parameter in θ
        takes precedence); used only by the ``log10_est_conv_params`` estimate.
    """

    unit_positions: bool = True
    base_channels: int | None = None
