"""Samplers (Sobol, random) and sample-quality metrics."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from scipy.stats import qmc

from spinlock.core.sampling.base import NonPowerOfTwoWarning, Sampler
from spinlock.core.sampling.configs import RandomConfig, SobolConfig
from spinlock.core.sampling.quality import SampleQuality, measure_quality
from spinlock.core.sampling.random import RandomSampler
from spinlock.core.sampling.sobol import MAX_SOBOL_DIMENSION, SobolSampler


@pytest.fixture(params=["sobol", "random"])
def sampler(request: pytest.FixtureRequest) -> Sampler:
    return SobolSampler(SobolConfig()) if request.param == "sobol" else RandomSampler(RandomConfig())


def test_samplers_follow_the_protocol(sampler: Sampler) -> None:
    assert isinstance(sampler, Sampler)
    points = sampler.sample(64, 3, seed=1)
    assert points.shape == (64, 3) and points.dtype == np.float64
    assert points.min() >= 0.0 and points.max() < 1.0
    assert sampler.sample(0, 3, seed=1).shape == (0, 3)


def test_samplers_are_reproducible_seeded_and_start_sliceable(sampler: Sampler) -> None:
    full = sampler.sample(512, 4, seed=9)
    np.testing.assert_array_equal(sampler.sample(512, 4, seed=9), full)
    assert not np.array_equal(sampler.sample(512, 4, seed=10), full)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonPowerOfTwoWarning)
        pieces = [sampler.sample(n, 4, seed=9, start=s) for s, n in ((0, 100), (100, 1), (101, 411))]
    np.testing.assert_array_equal(np.concatenate(pieces), full)


@pytest.mark.parametrize(
    ("n", "dimension", "seed", "start", "match"),
    [(-1, 2, 0, 0, "n must"), (4, 0, 0, 0, "dimension"), (4, 2, -1, 0, "seed"), (4, 2, 2**64, 0, "seed"),
     (4, 2, 0, -3, "start"), (2.5, 2, 0, 0, "n must be an integer")],
)  # fmt: skip
def test_invalid_requests_raise(
    sampler: Sampler, n: int, dimension: int, seed: int, start: int, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        sampler.sample(n, dimension, seed, start)


def test_sobol_warns_on_non_power_of_two_sizes() -> None:
    sobol = SobolSampler(SobolConfig())
    with pytest.warns(NonPowerOfTwoWarning, match=r"power-of-two.*n=64 or n=128"):
        points = sobol.sample(100, 2, seed=0)
    # Exactly the first 100 points of the sequence, nothing drawn past them and dropped.
    np.testing.assert_array_equal(points, sobol.sample(128, 2, seed=0)[:100])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sobol.sample(128, 2, seed=0)
        sobol.sample(100, 2, seed=0, start=128)


def test_sobol_dimension_and_length_limits() -> None:
    sobol = SobolSampler()
    with pytest.raises(ValueError, match=f"at most {MAX_SOBOL_DIMENSION} dimensions"):
        sobol.sample(1, MAX_SOBOL_DIMENSION + 1, seed=0)
    with pytest.raises(ValueError, match="2\\*\\*32 points"):
        sobol.sample(2, 1, seed=0, start=2**32 - 1)


def test_random_sampler_matches_a_plain_pcg64_stream() -> None:
    expected = np.random.Generator(np.random.PCG64(5)).random((50, 3))
    np.testing.assert_array_equal(RandomSampler().sample(50, 3, seed=5), expected)


def test_sobol_discrepancy_beats_random() -> None:
    n, d = 1024, 5
    sobol = measure_quality(SobolSampler().sample(n, d, seed=3))
    random = measure_quality(RandomSampler().sample(n, d, seed=3))
    assert sobol.discrepancy < random.discrepancy / 5
    assert sobol.max_abs_correlation < random.max_abs_correlation
    assert sobol.max_abs_correlation < 0.05


def test_quality_uses_a_power_of_two_prefix_above_the_exact_limit() -> None:
    points = SobolSampler().sample(4096, 3, seed=1)
    quality = measure_quality(points, max_exact_points=1000)
    assert quality.discrepancy_points == 512
    assert quality.n_points == 4096 and quality.dimension == 3
    assert quality.discrepancy == pytest.approx(qmc.discrepancy(points[:512], method="CD"), rel=1e-12)
    exact = measure_quality(points[:1000], max_exact_points=1000)
    assert exact.discrepancy_points == 1000


def test_quality_correlations() -> None:
    rng = np.random.default_rng(0)
    x = rng.random(2000)
    points = np.stack([x, x, 1.0 - x, np.full_like(x, 0.5)], axis=1)
    quality = measure_quality(points)
    assert quality.max_abs_correlation == pytest.approx(1.0)
    assert 0.0 <= quality.mean_abs_correlation <= quality.max_abs_correlation <= 1.0 + 1e-12
    one_d = measure_quality(points[:, :1])
    assert one_d.max_abs_correlation == 0.0 and one_d.mean_abs_correlation == 0.0


def test_quality_serialises_and_validates() -> None:
    quality = measure_quality(RandomSampler().sample(64, 2, seed=0))
    assert isinstance(quality, SampleQuality)
    record = json.loads(json.dumps(quality.to_dict()))
    assert record["discrepancy_method"] == "CD" and record["discrepancy_points"] == 64
    with pytest.raises(ValueError, match="shape"):
        measure_quality(np.zeros(5))
    with pytest.raises(ValueError, match="unit cube"):
        measure_quality(np.full((4, 2), 1.5))
    with pytest.raises(ValueError, match="max_exact_points"):
        measure_quality(np.zeros((4, 2)), max_exact_points=0)
