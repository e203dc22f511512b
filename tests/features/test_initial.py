"""INITIAL family: one column of every category against numpy/scipy, GRF ordering, variation, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndimage
import scipy.stats as stats
import torch

from spinlock.core.features.family import FeatureInputs
from spinlock.core.plugins import build_plugin_manager
from spinlock.features.configs import InitialConfig
from spinlock.features.initial import InitialFamily

FAMILY = InitialFamily()


def _run(u: np.ndarray) -> dict[str, np.ndarray]:
    inputs = FeatureInputs(initial_condition=torch.from_numpy(u.astype(np.float32)))
    cols = FAMILY.columns(inputs)
    values = FAMILY.compute(inputs).numpy().astype(np.float64)
    return {name: values[:, i] for i, name in enumerate(cols.names)}


def _spectrum(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Independent radial spectrum: shell k (cycles/domain), shell power sum and shell mean."""
    h, w = x.shape
    power = np.abs(np.fft.fft2(x - x.mean())) ** 2
    k = np.hypot(*np.meshgrid(np.fft.fftfreq(h) * h, np.fft.fftfreq(w) * w, indexing="ij"))
    shell = np.rint(k).astype(int)
    kmax = min(h, w) // 2
    ks = np.arange(1, kmax + 1)
    sums = np.array([power[shell == s].sum() for s in ks])
    means = np.array([power[shell == s].mean() for s in ks])
    return ks, sums, means


def test_every_category_against_numpy_scipy() -> None:
    rng = np.random.default_rng(3)
    u = rng.standard_normal((3, 2, 20, 24)).cumsum(axis=-1)  # some structure
    got = _run(u)
    cols = FAMILY.columns(FeatureInputs(initial_condition=torch.zeros(1, 2, 20, 24)))
    assert set(cols.categories) == {"spatial", "spectral", "information", "morphological", "cross_channel"}
    x32 = u.astype(np.float32).astype(np.float64)
    for b in range(3):
        for c in range(2):
            x = x32[b, c]
            # spatial
            assert got[f"skew_c{c}"][b] == pytest.approx(stats.skew(x.ravel()), rel=1e-4, abs=1e-5)
            assert got[f"kurtosis_c{c}"][b] == pytest.approx(stats.kurtosis(x.ravel()), rel=1e-4, abs=1e-5)
            assert got[f"p95_c{c}"][b] == pytest.approx(np.percentile(x, 95), rel=1e-5)
            gx = (np.roll(x, -1, 1) - x) * 24
            gy = (np.roll(x, -1, 0) - x) * 20
            assert got[f"grad_energy_c{c}"][b] == pytest.approx(np.mean(gx**2 + gy**2), rel=1e-5)
            # spectral
            ks, sums, means = _spectrum(x)
            slope = np.polyfit(np.log10(ks), np.log10(means), 1)[0]
            assert got[f"spectral_slope_c{c}"][b] == pytest.approx(slope, rel=1e-4, abs=1e-4)
            assert got[f"spectral_centroid_c{c}"][b] == pytest.approx(
                (ks * sums).sum() / sums.sum(), rel=1e-5
            )
            assert got[f"power_low_c{c}"][b] == pytest.approx(sums[ks <= 2.5].sum() / sums.sum(), rel=1e-5)
            # information: 32 bins over [p1, p99], outliers in the edge bins
            lo, hi = np.percentile(x, [1, 99])
            counts = np.histogram(np.clip(x, lo, hi), bins=32, range=(lo, hi))[0]
            assert got[f"hist_entropy_c{c}"][b] == pytest.approx(stats.entropy(counts) / np.log(32), rel=1e-3)
            # morphological
            above = x > x.mean()
            labels, n = ndimage.label(above)
            assert got[f"n_components_c{c}"][b] == n
            sizes = np.bincount(labels.ravel())[1:]
            assert got[f"largest_component_frac_c{c}"][b] == pytest.approx(
                sizes.max() / above.sum(), rel=1e-6
            )
        # cross-channel
        r = np.corrcoef(x32[b, 0].ravel(), x32[b, 1].ravel())[0, 1]
        assert got["xc_mean_abs_corr"][b] == pytest.approx(abs(r), rel=1e-4, abs=1e-6)


def test_column_count_depends_on_channels_only() -> None:
    one = FAMILY.columns(FeatureInputs(initial_condition=torch.zeros(2, 1, 8, 8)))
    three = FAMILY.columns(FeatureInputs(initial_condition=torch.zeros(5, 3, 32, 16)))
    assert len(three) == 3 * len(one) + 2
    # with one channel there is no pair to correlate, so the cross-channel columns are omitted
    assert "cross_channel" not in one.categories
    assert all(name.endswith("_c0") for name in one.names)


def test_constant_field_is_finite_and_zero_where_undefined() -> None:
    got = _run(np.full((1, 1, 16, 16), 2.5))
    for name in ("std_c0", "skew_c0", "spectral_centroid_c0", "hist_entropy_c0", "n_components_c0"):
        assert got[name][0] == 0.0
    assert got["mean_c0"][0] == 2.5


def _ic(kind: str, seeds: list[int], channels: int = 3, size: int = 32, **params: object) -> np.ndarray:
    registry = build_plugin_manager(strict=True).components["initial_condition"]
    spec = registry.get(kind)
    config = spec.config_cls(**params) if params else None
    generator = spec.build(config)
    return generator(seeds, channels=channels, height=size, width=size, device="cpu").numpy()


def test_grf_centroid_decreases_with_length_scale() -> None:
    seeds = list(range(8))
    centroids = []
    for length in (0.03, 0.08, 0.2):
        got = _run(_ic("gaussian_random_field", seeds, channels=1, size=64, length_scale=length))
        centroids.append(got["spectral_centroid_c0"].mean())
    assert centroids[0] > centroids[1] > centroids[2], centroids


def test_every_column_varies_across_diverse_ics() -> None:
    names = build_plugin_manager(strict=True).components["initial_condition"].names()
    u = np.concatenate([_ic(kind, [i, 100 + i]) for i, kind in enumerate(names[:16])])
    got = _run(u)
    constant = [name for name, v in got.items() if np.ptp(v) == 0]
    assert not constant, constant


def test_batch_independence_and_config_toggles() -> None:
    u = np.random.default_rng(0).standard_normal((6, 3, 16, 16))
    full = _run(u)
    alone = _run(u[4:5])
    for name, v in full.items():
        assert alone[name][0] == pytest.approx(v[4], rel=1e-6, abs=1e-6), name
    spectral_only = InitialFamily(InitialConfig(categories=("spectral",)))
    inputs = FeatureInputs(initial_condition=torch.from_numpy(u.astype(np.float32)))
    assert set(spectral_only.columns(inputs).categories) == {"spectral"}
    assert spectral_only.compute(inputs).shape == (6, 18)
    with pytest.raises(ValueError, match="unknown INITIAL categories"):
        InitialConfig(categories=("spectral", "nope"))


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="needs initial_condition"):
        FAMILY.compute(FeatureInputs())
    with pytest.raises(ValueError, match="ndim 3"):
        FAMILY.compute(FeatureInputs(initial_condition=torch.zeros(1, 8, 8)))
    with pytest.raises(ValueError, match="non-finite"):
        FAMILY.compute(FeatureInputs(initial_condition=torch.full((1, 1, 8, 8), float("nan"))))


def test_label_components_matches_scipy_on_snakes_and_noise() -> None:
    from spinlock.features.initial import component_counts, label_components

    snake = np.zeros((17, 17), dtype=bool)  # one long serpentine component: worst case for propagation
    snake[::2] = True
    snake[1::4, -1] = True
    snake[3::4, 0] = True
    rng = np.random.default_rng(0)
    masks = np.stack(
        [snake, ~snake, rng.random((17, 17)) > 0.45, np.zeros((17, 17), bool), np.ones((17, 17), bool)]
    )
    labels = label_components(torch.from_numpy(masks)).numpy()
    for mask, got in zip(masks, labels, strict=True):
        expected, count = ndimage.label(mask)
        assert len(np.unique(got[mask])) == count
        # same partition: pixels share a label exactly when scipy gives them the same one
        pairs = {(int(a), int(b)) for a, b in zip(got[mask], expected[mask], strict=True)}
        assert len(pairs) == count
        assert (got[~mask] == -1).all()
    # the CPU (scipy) and the device (torch propagation) paths of the component counts agree
    counts, largest = component_counts(torch.from_numpy(masks))
    for mask, n_comp, big in zip(masks, counts.tolist(), largest.tolist(), strict=True):
        expected, count = ndimage.label(mask)
        assert n_comp == count
        assert big == (np.bincount(expected.ravel())[1:].max() if count else 0)
