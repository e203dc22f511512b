"""TemporalScaler: robust scale, cap and Yeo–Johnson per column over all steps, against scipy."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from spinlock.vqvae.data import TemporalScaler


def _heavy(seed: int = 0) -> np.ndarray:
    """``(200, 6, 3)``: a lognormal column (decades wide), a Gaussian one and one with rare huge outliers."""
    rng = np.random.default_rng(seed)
    values = np.stack(
        [
            np.exp(2.0 * rng.normal(size=(200, 6))),
            rng.normal(3.0, 2.0, (200, 6)),
            rng.standard_t(1.5, (200, 6)),
        ],
        axis=2,
    )
    values[5, 2, 2] = 1e9
    return values


def test_robust_scaling_matches_a_plain_reference_and_tames_heavy_tails() -> None:
    values = _heavy()
    scaler = TemporalScaler.fit(values, outlier_k=5.0, power_transform=True, max_rows=10_000)
    out = scaler.transform(values)
    flat = values.reshape(-1, 3)
    for j in range(3):
        column = flat[:, j]
        median = np.median(column)
        sigma = 1.4826 * np.median(np.abs(column - median))
        u = np.clip((column - median) / sigma, -5.0, 5.0)
        assert scaler.power_lambda is not None
        assert scaler.power_lambda[j] == pytest.approx(np.clip(stats.yeojohnson_normmax(u), -2, 4), abs=1e-3)
        v = stats.yeojohnson(u, lmbda=scaler.power_lambda[j])
        np.testing.assert_allclose(out.reshape(-1, 3)[:, j], (v - v.mean()) / v.std(), rtol=1e-4, atol=1e-5)
    # training values come out standardised, and the lognormal column is no longer a spike with a tail
    np.testing.assert_allclose(out.reshape(-1, 3).mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.reshape(-1, 3).std(0), 1.0, atol=1e-5)
    plain = TemporalScaler.fit(values).transform(values)
    assert abs(stats.skew(out[:, :, 0].ravel())) < 0.5 < 5.0 < abs(stats.skew(plain[:, :, 0].ravel()))
    assert np.abs(out).max() < 10.0 < np.abs(plain).max()


def test_non_finite_values_become_the_centre_and_the_state_round_trips() -> None:
    values = _heavy(1)
    scaler = TemporalScaler.fit(values, outlier_k=5.0, power_transform=True)
    bad = values.copy()
    bad[0, 0] = [np.nan, np.inf, -np.inf]
    out = scaler.transform(bad)
    assert np.all(out[0, 0] == 0.0) and np.isfinite(out).all()
    restored = TemporalScaler.from_state(json.loads(json.dumps(scaler.to_state())))
    np.testing.assert_array_equal(restored.transform(bad), out)
    plain = TemporalScaler.fit(values)
    assert "robust" not in plain.to_state()
    np.testing.assert_array_equal(
        TemporalScaler.from_state(plain.to_state()).transform(bad), plain.transform(bad)
    )


def test_cap_alone_and_constant_columns() -> None:
    values = _heavy(2)
    values[:, :, 1] = 7.0
    scaler = TemporalScaler.fit(values, outlier_k=3.0)
    assert scaler.power_lambda is None and scaler.cap == 3.0
    out = scaler.transform(values)
    assert np.all(out[:, :, 1] == 0.0)
    flat = values.reshape(-1, 3)[:, 2]
    median = np.median(flat)
    u = np.clip((flat - median) / (1.4826 * np.median(np.abs(flat - median))), -3.0, 3.0)
    np.testing.assert_allclose(out[:, :, 2].ravel(), (u - u.mean()) / u.std(), rtol=1e-4, atol=1e-5)
