"""Finding and reporting feature values that are not finite (NaN or ±inf).

Features are float32. A finite input whose magnitude is large enough (around 1e9 for the fourth moments of
SUMMARY and TEMPORAL on a small grid) overflows float32 arithmetic, and the affected columns come out NaN or
inf. Such values are never hidden: the extraction API warns with :class:`NonFiniteFeaturesWarning`, and
``spinlock generate`` / ``spinlock extract`` count the samples in their summaries.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class NonFiniteFeaturesWarning(UserWarning):
    """Some computed feature values are NaN or ±inf (the message names the samples and columns)."""


def nonfinite_samples(values: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: samples with at least one non-finite value in ``values`` ``(N, ...)``."""
    arr = np.asarray(values)
    if arr.ndim == 0 or arr.shape[0] == 0:
        return np.zeros(arr.shape[:1], dtype=bool)
    return ~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1)


def describe_nonfinite(family: str, values: np.ndarray, names: Sequence[str], limit: int = 5) -> str | None:
    """One line naming how many values, samples and which columns of ``values`` are not finite.

    :param values: ``(N, D)`` or ``(N, T, D)``; the last axis holds the columns ``names``.
    :returns: ``None`` when every value is finite.
    """
    arr = np.asarray(values)
    bad = ~np.isfinite(arr)
    if not bad.any():
        return None
    samples = np.flatnonzero(bad.reshape(arr.shape[0], -1).any(axis=1))
    columns = [str(names[int(i)]) for i in np.flatnonzero(bad.reshape(-1, arr.shape[-1]).any(axis=0))]
    shown = ", ".join(columns[:limit]) + (f" (+{len(columns) - limit} more)" if len(columns) > limit else "")
    examples = ", ".join(str(int(i)) for i in samples[:limit]) + (", ..." if samples.size > limit else "")
    return (
        f"{family}: {int(bad.sum())} feature values of {samples.size} of {arr.shape[0]} samples are not "
        f"finite (samples {examples}; columns {shown})"
    )
