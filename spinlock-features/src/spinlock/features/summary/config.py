"""Config of the SUMMARY family (torch-free, so that registering it imports no torch)."""

from __future__ import annotations

import attrs

#: SUMMARY categories, in column order
SUMMARY_CATEGORIES: tuple[str, ...] = (
    "spatial",
    "spectral",
    "temporal",
    "cross_channel",
    "causality",
    "invariant_drift",
    "distributional",
    "structural",
    "physics",
    "morphological",
    "multiscale",
    "operator_sensitivity",
)
#: statistics over the M realizations, in column order
SUMMARY_AGGREGATIONS: tuple[str, ...] = ("mean", "std", "cv", "min", "max")


def _check_subset(known: tuple[str, ...], what: str):  # type: ignore[no-untyped-def]
    def check(instance: object, attribute: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]) -> None:
        unknown = [v for v in value if v not in known]
        if unknown:
            raise ValueError(f"unknown SUMMARY {what} {unknown}; known: {list(known)}")
        if not value:
            raise ValueError(f"SUMMARY needs at least one of {list(known)}")
        if len(set(value)) != len(value):
            raise ValueError(f"SUMMARY {what} listed twice: {list(value)}")

    return check


@attrs.frozen
class SummaryConfig:
    """SUMMARY family: one row of per-trajectory statistics per operator, ``(N, D)``.

    Each statistic is computed per (sample, realization[, channel]) trajectory, kept per channel (columns
    ``<stat>_c{k}_<aggregation>``, BUG-17) and then aggregated over the M realizations. Every enabled category
    is computed and stored; nothing is computed and dropped.

    :param categories: enabled categories (see :data:`SUMMARY_CATEGORIES`).
    :param aggregations: statistics over realizations: ``mean``, ``std`` (population), ``cv`` (the bounded
        coefficient of variation std / (|mean| + std) ∈ [0, 1)), ``min``, ``max``. With M = 1 only ``mean``
        is emitted (the others would be constant).
    :param n_bands: radial bands of the band-power fractions (shared with TEMPORAL when equal, so the
        per-frame statistics are computed once).
    :param dominant_sharpness: β of the soft argmax of the dominant wavenumber (shared with TEMPORAL).
    :param interface_width: width of the soft threshold that defines the morphological mask
        ``sigmoid((u - mean) / (interface_width · std))``.
    """

    categories: tuple[str, ...] = attrs.field(
        default=SUMMARY_CATEGORIES, converter=tuple, validator=_check_subset(SUMMARY_CATEGORIES, "categories")
    )
    aggregations: tuple[str, ...] = attrs.field(
        default=("mean", "std", "cv"),
        converter=tuple,
        validator=_check_subset(SUMMARY_AGGREGATIONS, "aggregations"),
    )
    n_bands: int = attrs.field(default=4, validator=[attrs.validators.ge(1), attrs.validators.le(16)])
    dominant_sharpness: float = attrs.field(default=10.0, validator=attrs.validators.gt(0.0))
    interface_width: float = attrs.field(default=0.05, validator=attrs.validators.gt(0.0))
