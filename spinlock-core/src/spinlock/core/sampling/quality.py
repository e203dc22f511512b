"""Sample quality: centred L2 discrepancy and pairwise correlation of unit-cube points."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray
from scipy.stats import qmc


@attrs.frozen
class SampleQuality:
    """Quality metrics of an ``(n_points, dimension)`` sample.

    :param discrepancy: scipy's squared-L2-type discrepancy (``discrepancy_method``) of the first
        ``discrepancy_points`` points; lower is more uniform.
    :param discrepancy_points: how many leading points the discrepancy was computed on.
    :param discrepancy_method: scipy's method name (``"CD"``: centred L2).
    :param max_abs_correlation: largest ``|Pearson r|`` over pairs of distinct columns (0 when
        ``dimension == 1``; constant columns count as uncorrelated).
    :param mean_abs_correlation: mean ``|Pearson r|`` over those pairs.
    """

    discrepancy: float
    discrepancy_points: int
    discrepancy_method: str
    max_abs_correlation: float
    mean_abs_correlation: float
    n_points: int
    dimension: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of every field."""
        return attrs.asdict(self)


def measure_quality(
    points: NDArray[np.float64], max_exact_points: int = 4096, method: str = "CD"
) -> SampleQuality:
    """Measure the discrepancy and pairwise correlations of ``points``, shape ``(n, d)`` in ``[0, 1]``.

    The discrepancy costs ``O(n**2 * d)``, so above ``max_exact_points`` it is computed on the largest
    power-of-two prefix not above ``max_exact_points``: a power-of-two prefix of a scrambled Sobol sequence
    is itself a scrambled net, so the figure stays meaningful. Correlations use every point (``O(n * d**2)``).
    """
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"points must have shape (n, d) with n, d >= 1, got shape {array.shape}")
    if not (np.all(np.isfinite(array)) and array.min() >= 0.0 and array.max() <= 1.0):
        raise ValueError("points must lie in the unit cube [0, 1]")
    if max_exact_points < 1:
        raise ValueError(f"max_exact_points must be >= 1, got {max_exact_points}")
    n, d = array.shape
    used = n if n <= max_exact_points else 1 << (max_exact_points.bit_length() - 1)
    # workers=1: a threaded sum could change the last bits, and the figure is stored with the dataset.
    discrepancy = float(qmc.discrepancy(array[:used], method=method, workers=1))
    max_corr, mean_corr = _abs_correlations(array)
    return SampleQuality(
        discrepancy=discrepancy,
        discrepancy_points=used,
        discrepancy_method=method,
        max_abs_correlation=max_corr,
        mean_abs_correlation=mean_corr,
        n_points=n,
        dimension=d,
    )


def _abs_correlations(points: NDArray[np.float64]) -> tuple[float, float]:
    d = points.shape[1]
    if d == 1:
        return 0.0, 0.0
    centred = points - points.mean(axis=0)
    covariance = centred.T @ centred
    scale = np.sqrt(np.diag(covariance))
    constant = scale == 0.0
    scale[constant] = 1.0
    correlation = covariance / np.outer(scale, scale)
    correlation[constant, :] = 0.0
    correlation[:, constant] = 0.0
    off_diagonal = np.abs(correlation[~np.eye(d, dtype=bool)])
    return float(off_diagonal.max()), float(off_diagonal.mean())
