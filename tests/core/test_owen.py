"""Owen (nested uniform) scrambling: net preservation, uniformity, nesting and determinism."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import warnings

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import stats
from scipy.stats import qmc

from spinlock.core.sampling.configs import SobolConfig
from spinlock.core.sampling.owen import SCRAMBLE_BITS, mix64, owen_scramble, scramble_digits
from spinlock.core.sampling.sobol import SobolSampler

M = 10
N = 2**M


def _sobol(n: int, dimension: int, seed: int, start: int = 0, scramble: bool = True) -> NDArray[np.float64]:
    return SobolSampler(SobolConfig(scramble=scramble)).sample(n, dimension, seed, start)


def _interval_counts(x: NDArray[np.float64], y: NDArray[np.float64], a: int, b: int) -> NDArray[np.int64]:
    """Points per elementary interval [i/2^a, (i+1)/2^a) x [j/2^b, (j+1)/2^b)."""
    cells = np.floor(x * 2**a).astype(np.int64) * 2**b + np.floor(y * 2**b).astype(np.int64)
    return np.bincount(cells, minlength=2 ** (a + b))


@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_one_dimensional_projections_keep_one_point_per_interval(seed: int) -> None:
    points = _sobol(N, 8, seed)
    for j in range(points.shape[1]):
        counts = np.bincount(np.floor(points[:, j] * N).astype(np.int64), minlength=N)
        assert np.all(counts == 1), f"dimension {j}"


@pytest.mark.parametrize("seed", [0, 7])
def test_first_two_dimensions_stay_a_zero_m_two_net(seed: int) -> None:
    points = _sobol(N, 2, seed)
    for a in range(M + 1):
        counts = _interval_counts(points[:, 0], points[:, 1], a, M - a)
        assert np.all(counts == 1), f"split a={a}, b={M - a}"


def test_scrambling_preserves_elementary_interval_counts_of_the_net() -> None:
    # A nested scramble permutes the elementary intervals of each level, so the multiset of counts of every
    # 2-D elementary partition equals that of the unscrambled net, also for pairs with t > 0.
    m = 8
    plain = _sobol(2**m, 6, seed=0, scramble=False)
    scrambled = _sobol(2**m, 6, seed=99)
    for i in range(6):
        for j in range(i + 1, 6):
            for a in range(m + 1):
                expected = np.sort(_interval_counts(plain[:, i], plain[:, j], a, m - a))
                actual = np.sort(_interval_counts(scrambled[:, i], scrambled[:, j], a, m - a))
                np.testing.assert_array_equal(actual, expected, err_msg=f"dims ({i}, {j}), a={a}")


def test_each_scrambled_point_is_uniform_over_seeds() -> None:
    firsts = np.array([_sobol(1, 4, seed)[0] for seed in range(400)])
    for j in range(firsts.shape[1]):
        column = firsts[:, j]
        assert stats.kstest(column, "uniform").pvalue > 1e-3, f"dimension {j}"
        assert abs(column.mean() - 0.5) < 0.06
    # A later point too, since its prefixes differ from the first point's.
    later = np.array([_sobol(1, 2, seed, start=37)[0] for seed in range(400)])
    assert stats.kstest(later[:, 1], "uniform").pvalue > 1e-3


def test_first_point_is_not_the_origin() -> None:
    assert np.all(_sobol(1, 5, seed=3, scramble=False) == 0.0)
    assert np.all(_sobol(1, 5, seed=3) > 0.0)


def test_values_are_continuous_not_on_the_digit_grid() -> None:
    points = _sobol(N, 3, seed=5)
    fractional = points * 2.0**SCRAMBLE_BITS
    assert np.mean(fractional != np.floor(fractional)) > 0.99
    assert points.min() >= 0.0 and points.max() < 1.0


def test_seed_sensitivity_and_reproducibility() -> None:
    a = _sobol(256, 6, seed=1)
    assert np.array_equal(a, _sobol(256, 6, seed=1))
    b = _sobol(256, 6, seed=2)
    assert np.all(a != b)


def test_start_slices_equal_a_single_run() -> None:
    full = _sobol(N, 5, seed=11)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no power-of-two warning for shards (start > 0)
        shards = [_sobol(n, 5, seed=11, start=s) for s, n in ((0, 128), (128, 300), (428, N - 428))]
    np.testing.assert_array_equal(np.concatenate(shards), full)


def test_identical_across_processes() -> None:
    code = (
        "import hashlib\n"
        "from spinlock.core.sampling.sobol import SobolSampler\n"
        "from spinlock.core.sampling.configs import SobolConfig\n"
        "p = SobolSampler(SobolConfig()).sample(512, 7, 2024, start=64)\n"
        "print(hashlib.sha256(p.tobytes()).hexdigest())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    local = hashlib.sha256(_sobol(512, 7, 2024, start=64).tobytes()).hexdigest()
    assert result.stdout.strip() == local


def test_unscrambled_mode_equals_scipy_exactly() -> None:
    expected = qmc.Sobol(6, scramble=False, bits=32).random(N)
    np.testing.assert_array_equal(_sobol(N, 6, seed=123, scramble=False), expected)
    engine = qmc.Sobol(6, scramble=False, bits=32)
    engine.fast_forward(300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected_tail = engine.random(100)
    np.testing.assert_array_equal(_sobol(100, 6, seed=0, start=300, scramble=False), expected_tail)


def test_scramble_is_a_nested_permutation_of_each_level() -> None:
    bits = 10
    digits = np.arange(2**bits, dtype=np.uint64).reshape(-1, 1).repeat(3, axis=1)
    scrambled = scramble_digits(digits, seed=42, bits=bits)
    for j in range(3):
        assert np.array_equal(np.sort(scrambled[:, j]), digits[:, j])
        for level in range(1, bits + 1):
            prefix = digits[:, j] >> np.uint64(bits - level)
            image = scrambled[:, j] >> np.uint64(bits - level)
            # Points sharing an original prefix share a scrambled prefix, and distinct prefixes stay distinct.
            pairs = np.unique(np.stack([prefix, image], axis=1), axis=0)
            assert len(pairs) == 2**level
            assert len(np.unique(pairs[:, 1])) == 2**level


def test_scramble_argument_checks() -> None:
    with pytest.raises(ValueError, match="shape"):
        scramble_digits(np.zeros(4, dtype=np.uint64), seed=0)
    with pytest.raises(ValueError, match="uint64"):
        scramble_digits(np.zeros((4, 1), dtype=np.int64), seed=0)
    with pytest.raises(ValueError, match="below"):
        scramble_digits(np.full((1, 1), 2**10, dtype=np.uint64), seed=0, bits=10)
    with pytest.raises(ValueError, match="seed"):
        owen_scramble(np.zeros((1, 1), dtype=np.uint64), seed=-1)


def test_mix64_is_the_splitmix64_finaliser() -> None:
    def reference(x: int) -> int:
        mask = 2**64 - 1
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & mask
        return x ^ (x >> 31)

    values = [0, 1, 2**63 + 5, 2**64 - 1, 0x0123456789ABCDEF]
    assert mix64(np.array(values, dtype=np.uint64)).tolist() == [reference(v) for v in values]
