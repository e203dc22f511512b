"""SUMMARY feature family: layout, values against numpy/scipy per category, invariants, gradients, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch

from spinlock.core.features.family import FeatureFamily, FeatureInputs
from spinlock.features.summary import SUMMARY_CATEGORIES, SummaryConfig
from spinlock.features.summary.family import SummaryFamily


def _run(
    x: torch.Tensor | np.ndarray, config: SummaryConfig | None = None, stride: int = 1
) -> tuple[torch.Tensor, list[str], list[str]]:
    t = torch.as_tensor(x)
    fam = SummaryFamily(config)
    inputs = FeatureInputs(trajectory=t, time_stride=stride)
    cols = fam.columns(inputs)
    return fam.compute(inputs), list(cols.names), list(cols.categories)


def _col(values: torch.Tensor, names: list[str], name: str) -> np.ndarray:
    return values[:, names.index(name)].detach().double().numpy()


def _grf(n: int, ell: float, rng: np.random.Generator) -> np.ndarray:
    k = np.fft.fftfreq(n) * n
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    noise = np.fft.fft2(rng.standard_normal((n, n)))
    field = np.real(np.fft.ifft2(noise * np.exp(-0.5 * k2 * (2 * np.pi * ell) ** 2)))
    return field / field.std()


def _trajectories(B: int = 3, M: int = 3, T: int = 6, C: int = 3, n: int = 16, seed: int = 0) -> np.ndarray:
    """Varied float64 trajectories ``(B, M, T, C, n, n)``: GRFs that grow or decay, drift and get noisier."""
    rng = np.random.default_rng(seed)
    out = np.empty((B, M, T, C, n, n))
    for b in range(B):
        base = [_grf(n, 0.03 + 0.05 * rng.random(), rng) for _ in range(C)]
        rate = rng.uniform(-0.3, 0.3)
        for m in range(M):
            for t in range(T):
                for c in range(C):
                    shifted = np.roll(base[c], t * (c + 1), axis=1)
                    out[b, m, t, c] = np.exp(rate * t) * shifted + 0.1 * t * rng.standard_normal((n, n)) + c
    return out


def _central_dx(u: np.ndarray) -> np.ndarray:
    W = u.shape[-1]
    return (np.roll(u, -1, axis=-1) - np.roll(u, 1, axis=-1)) * W / 2


def _central_dy(u: np.ndarray) -> np.ndarray:
    H = u.shape[-2]
    return (np.roll(u, -1, axis=-2) - np.roll(u, 1, axis=-2)) * H / 2


# ------------------------------------------------------------------------------------------------ layout


def test_protocol_registration_and_width(plugin_manager) -> None:  # type: ignore[no-untyped-def]
    fam = SummaryFamily()
    assert isinstance(fam, FeatureFamily)
    spec = plugin_manager.get("feature_family", "summary")
    assert spec.metadata["version"] == fam.version and spec.metadata["inputs"] == ["trajectory"]
    cols = fam.columns_for_shape(M=3, C=3, H=32, W=32)
    assert 420 <= len(cols) <= 520, len(cols)
    assert set(cols.categories) == set(SUMMARY_CATEGORIES)
    assert not cols.per_timestep


def test_columns_depend_on_shape_only() -> None:
    fam = SummaryFamily()
    a = fam.columns_for_shape(M=2, C=3, H=16, W=16)
    x, names, _ = _run(torch.randn(2, 2, 4, 3, 16, 16))
    assert list(a.names) == names and x.shape == (2, len(names))
    # M = 1: only the mean over realizations, and no ensemble columns
    one = fam.columns_for_shape(M=1, C=3, H=16, W=16)
    assert all(n.endswith("_mean") for n in one.names)
    assert not any(n.startswith("ensemble_") for n in one.names)
    # C = 1: no channel pairs and no cross-channel scalars
    single = fam.columns_for_shape(M=2, C=1, H=16, W=16)
    assert "cross_channel" not in single.categories
    assert not any("_c1" in n for n in single.names)
    # 8×8 grids keep block sizes 2 and 4 only
    small = fam.columns_for_shape(M=2, C=1, H=8, W=8)
    assert "coarse_variance_s4_final_c0_mean" in small.names
    assert "coarse_variance_s8_final_c0_mean" not in small.names


def test_category_and_aggregation_toggles() -> None:
    x = torch.randn(2, 3, 4, 2, 16, 16)
    config = SummaryConfig(categories=("spectral", "physics"), aggregations=("mean", "max"))
    out, names, cats = _run(x, config)
    assert set(cats) == {"spectral", "physics"}
    assert {n.rsplit("_", 1)[1] for n in names} == {"mean", "max"}
    full, full_names, _ = _run(x)
    for name in names:
        if name in full_names:  # same statistic, same value whatever else is enabled
            np.testing.assert_allclose(_col(out, names, name), _col(full, full_names, name), rtol=1e-5)
    assert _col(out, names, "spectral_centroid_c0_max")[0] >= _col(out, names, "spectral_centroid_c0_mean")[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"categories": ("spectral", "vibes")}, "unknown SUMMARY categories"),
        ({"categories": ()}, "at least one"),
        ({"aggregations": ("median",)}, "unknown SUMMARY aggregations"),
        ({"aggregations": ("mean", "mean")}, "listed twice"),
        ({"n_bands": 0}, "n_bands"),
    ],
)
def test_bad_config(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SummaryConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (torch.randn(2, 3, 2, 1, 8, 8), "at least 3 stored time steps"),
        (torch.randn(2, 3, 4, 8, 8), "6-D"),
        (None, "needs inputs.trajectory"),
        (torch.zeros(1, 1, 4, 1, 8, 8).long(), "floating point"),
        (torch.randn(1, 1, 4, 1, 3, 8), "at least 4×4"),
    ],
)
def test_bad_input(bad: torch.Tensor | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SummaryFamily().compute(FeatureInputs(trajectory=bad))


# ------------------------------------------------------------------------------------------------ values


def test_spatial_spectral_and_physics_against_numpy() -> None:
    u = _trajectories()
    out, names, _ = _run(u)
    B, M, T, C, H, _ = u.shape
    skew = scipy.stats.skew(u.reshape(B, M, T, C, -1), axis=-1).mean(axis=2).mean(axis=1)
    np.testing.assert_allclose(_col(out, names, "skewness_c1_mean"), skew[:, 1], rtol=1e-6, atol=1e-9)

    P = np.abs(np.fft.fft2(u - u.mean(axis=(-2, -1), keepdims=True))) ** 2
    k = np.fft.fftfreq(H) * H
    kk = np.sqrt(k[:, None] ** 2 + k[None, :] ** 2)
    centroid = (P * kk).sum(axis=(-2, -1)) / P.sum(axis=(-2, -1))
    expected = centroid.mean(axis=2).mean(axis=1)[:, 2]
    np.testing.assert_allclose(_col(out, names, "spectral_centroid_c2_mean"), expected, rtol=1e-6)

    var = u.var(axis=(-2, -1))
    grad2 = (_central_dx(u) ** 2 + _central_dy(u) ** 2).mean(axis=(-2, -1))
    taylor = np.sqrt(var / grad2).mean(axis=2)
    np.testing.assert_allclose(
        _col(out, names, "taylor_microscale_c0_mean"), taylor.mean(axis=1)[:, 0], rtol=1e-6
    )
    np.testing.assert_allclose(
        _col(out, names, "taylor_microscale_c0_std"), taylor.std(axis=1)[:, 0], rtol=1e-5, atol=1e-12
    )


def test_temporal_and_sensitivity_against_numpy() -> None:
    u = _trajectories()
    stride = 2
    out, names, _ = _run(u, stride=stride)
    B, M, T = u.shape[:3]
    log_v = np.log(u.var(axis=(-2, -1)))  # (B, M, T, C)
    slope = np.polyfit(np.arange(T), log_v.transpose(2, 0, 1, 3).reshape(T, -1), 1)[0].reshape(B, M, -1)
    np.testing.assert_allclose(
        _col(out, names, "variance_growth_rate_c0_mean"), slope.mean(1)[:, 0] / stride, rtol=1e-6
    )

    log_rms = 0.5 * np.log((u**2).mean(axis=(-2, -1)))
    gain = np.diff(log_rms, axis=2) / stride
    np.testing.assert_allclose(
        _col(out, names, "step_gain_c1_mean"), gain.mean(axis=2).mean(axis=1)[:, 1], rtol=1e-6
    )

    spread = u.var(axis=1).mean(axis=(-2, -1))  # (B, T, C)
    log_spread = np.log(spread / var_mean(u))
    np.testing.assert_allclose(_col(out, names, "ensemble_spread_final_c2"), log_spread[:, -1, 2], rtol=1e-6)
    growth = (log_spread[:, -1] - log_spread[:, 1]) / ((T - 2) * stride)
    np.testing.assert_allclose(_col(out, names, "ensemble_spread_growth_c0"), growth[:, 0], rtol=1e-6)


def var_mean(u: np.ndarray) -> np.ndarray:
    """Spatial variance averaged over realizations ``(B, T, C)``."""
    return u.var(axis=(-2, -1)).mean(axis=1)


def test_cross_channel_and_lag_asymmetry_against_numpy() -> None:
    u = _trajectories(C=2)
    out, names, _ = _run(u)
    B, M, T, C = u.shape[:4]
    flat = u.reshape(B, M, T, C, -1)
    corr = np.array(
        [[[np.corrcoef(flat[b, m, t])[0, 1] for t in range(T)] for m in range(M)] for b in range(B)]
    )
    np.testing.assert_allclose(_col(out, names, "channel_corr_c0_c1_mean"), corr.mean(2).mean(1), rtol=1e-6)

    def lagged(i: int, j: int) -> np.ndarray:
        return np.array(
            [
                [
                    np.mean([np.corrcoef(flat[b, m, t + 1, i], flat[b, m, t, j])[0, 1] for t in range(T - 1)])
                    for m in range(M)
                ]
                for b in range(B)
            ]
        )

    asym = lagged(0, 1) - lagged(1, 0)
    np.testing.assert_allclose(
        _col(out, names, "lag_asymmetry_c0_c1_mean"), asym.mean(1), rtol=1e-5, atol=1e-9
    )


def test_channel_that_follows_another_has_positive_asymmetry() -> None:
    rng = np.random.default_rng(1)
    T, n = 8, 16
    driver = np.stack([_grf(n, 0.05, rng) for _ in range(T)])
    follower = np.concatenate([_grf(n, 0.05, rng)[None], driver[:-1]])  # channel 1 repeats channel 0 late
    u = np.stack([driver, follower], axis=1)[None, None]  # (1, 1, T, 2, n, n)
    out, names, _ = _run(u)
    # lag_asymmetry_c0_c1 > 0 means channel 1 leads channel 0: here channel 0 leads, so it is negative
    assert _col(out, names, "lag_asymmetry_c0_c1_mean")[0] < -0.5


def test_flow_of_a_translating_field() -> None:
    n, T, shift = 32, 5, 1
    rng = np.random.default_rng(2)
    base = _grf(n, 0.08, rng)
    u = np.stack([np.roll(base, shift * t, axis=-1) for t in range(T)])[None, None, :, None]
    out, names, _ = _run(u)
    u0, u1 = u[0, 0, :-1, 0], u[0, 0, 1:, 0]
    dx, dy = _central_dx(u0), _central_dy(u0)
    velocities = []
    for t in range(T - 1):  # least squares of du + vx dx + vy dy = 0 over the pixels
        A = np.stack([dx[t].ravel(), dy[t].ravel()], axis=1)
        velocities.append(np.linalg.lstsq(A, -(u1[t] - u0[t]).ravel(), rcond=None)[0])
    expected = np.mean(velocities, axis=0)[0]
    got = _col(out, names, "flow_x_c0_mean")[0]
    assert got == pytest.approx(expected, rel=1e-5)
    assert got == pytest.approx(shift / n, rel=0.1)  # one pixel per step, in domain lengths
    assert abs(_col(out, names, "flow_y_c0_mean")[0]) < 1e-3 * got
    assert _col(out, names, "flow_coherence_c0_mean")[0] == pytest.approx(1.0, abs=1e-3)


def test_drift_distributional_structural_against_numpy() -> None:
    u = _trajectories(C=1, seed=3)
    out, names, _ = _run(u)
    l1 = np.log(np.abs(u).mean(axis=(-2, -1)))
    np.testing.assert_allclose(
        _col(out, names, "l1_log_ratio_c0_mean"), (l1[:, :, -1] - l1[:, :, 0]).mean(1)[:, 0], rtol=1e-5
    )
    np.testing.assert_allclose(
        _col(out, names, "l1_variability_c0_mean"), l1.std(axis=2).mean(1)[:, 0], rtol=1e-5
    )

    final = u[:, :, -1, 0].reshape(*u.shape[:2], -1)
    q05, q25, q50, q75, q95 = np.quantile(final, [0.05, 0.25, 0.5, 0.75, 0.95], axis=-1)
    bowley = (q75 + q25 - 2 * q50) / (q75 - q25)
    np.testing.assert_allclose(_col(out, names, "quantile_skew_final_c0_mean"), bowley.mean(1), rtol=1e-5)
    tails = (q95 - q05) / (q75 - q25)
    np.testing.assert_allclose(_col(out, names, "tail_weight_final_c0_std"), tails.std(1), rtol=1e-4)

    centred = u[:, :, -1, 0] - u[:, :, -1, 0].mean(axis=(-2, -1), keepdims=True)
    sv = np.linalg.svd(centred, compute_uv=False)
    p = sv**2 / (sv**2).sum(-1, keepdims=True)
    rank = np.exp(-(p * np.log(p)).sum(-1))
    np.testing.assert_allclose(_col(out, names, "effective_rank_final_c0_mean"), rank.mean(1), rtol=1e-5)

    d = u - u.mean(axis=(-2, -1), keepdims=True)
    rx = (d * np.roll(d, 1, axis=-1)).sum(axis=(-2, -1)) / (d * d).sum(axis=(-2, -1))
    ry = (d * np.roll(d, 1, axis=-2)).sum(axis=(-2, -1)) / (d * d).sum(axis=(-2, -1))
    np.testing.assert_allclose(
        _col(out, names, "neighbour_corr_c0_mean"), (0.5 * (rx + ry)).mean(2).mean(1)[:, 0], rtol=1e-5
    )

    pooled = u[:, :, -1, 0].reshape(*u.shape[:2], 8, 2, 8, 2).mean(axis=(-3, -1))
    ratio = pooled.var(axis=(-2, -1)) / u[:, :, -1, 0].var(axis=(-2, -1))
    np.testing.assert_allclose(_col(out, names, "coarse_variance_s2_final_c0_mean"), ratio.mean(1), rtol=1e-5)


def test_morphology_of_a_disk() -> None:
    n = 64
    y, x = np.mgrid[0:n, 0:n] / n
    disk = 0.5 * (1 + np.tanh((0.2 - np.hypot(x - 0.5, y - 0.5)) * 80))  # radius 0.2 of the domain
    u = np.stack([disk * (1 + 0.01 * t) for t in range(3)])[None, None, :, None]
    out, names, _ = _run(u)
    final = u[0, 0, -1, 0]
    width = SummaryConfig().interface_width * np.sqrt(final.var() + 1e-10 * (final**2).mean())
    mask = 1 / (1 + np.exp(-(final - final.mean()) / width))
    area = _col(out, names, "area_fraction_final_c0_mean")[0]
    assert area == pytest.approx(mask.mean(), rel=1e-5)
    radius = math.sqrt(area / math.pi)
    assert _col(out, names, "interface_density_final_c0_mean")[0] == pytest.approx(
        2 * math.pi * radius, rel=0.05
    )
    assert _col(out, names, "compactness_final_c0_mean")[0] == pytest.approx(1.0, rel=0.1)
    # two disks: the same area in two pieces has a longer perimeter, so a lower compactness
    two = 0.5 * (
        1 + np.tanh((0.1414 - np.minimum(np.hypot(x - 0.25, y - 0.5), np.hypot(x - 0.75, y - 0.5))) * 80)
    )
    out2, _, _ = _run(np.stack([two * (1 + 0.01 * t) for t in range(3)])[None, None, :, None])
    assert _col(out2, names, "compactness_final_c0_mean")[0] == pytest.approx(0.5, rel=0.15)


# ------------------------------------------------------------------------------------------- invariants


def test_batch_independence_and_dtype() -> None:
    x = torch.as_tensor(_trajectories(B=4, seed=5)).float()
    x = x * torch.logspace(-2, 2, 4)[:, None, None, None, None, None]
    batch, _, _ = _run(x)
    assert batch.dtype == torch.float32
    for i in range(4):
        alone, _, _ = _run(x[i : i + 1])
        torch.testing.assert_close(alone[0], batch[i], rtol=2e-4, atol=2e-5)


def test_constant_and_zero_fields_are_finite() -> None:
    x = torch.zeros(2, 2, 4, 2, 8, 8)
    x[1] = 3.0
    out, _, _ = _run(x)
    assert torch.isfinite(out).all()


def test_gradcheck_float64() -> None:
    x = torch.as_tensor(_trajectories(B=1, M=2, T=3, C=2, n=8, seed=6)).requires_grad_(True)
    fam = SummaryFamily()

    def fn(t: torch.Tensor) -> torch.Tensor:
        return fam.compute(FeatureInputs(trajectory=t))

    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-5, rtol=1e-3, fast_mode=True)


def test_no_column_constant_across_diverse_set() -> None:
    u = np.concatenate([_trajectories(B=4, T=5, seed=s) for s in range(3)])
    rng = np.random.default_rng(9)
    u = u * 10.0 ** rng.uniform(-1, 1, size=(len(u), 1, 1, 1, 1, 1))
    out, names, _ = _run(u)
    spread = out.std(dim=0)
    constant = [n for n, s in zip(names, spread.tolist(), strict=True) if not s > 1e-9]
    assert not constant, constant


def test_gradients_after_a_first_call_under_inference_mode() -> None:
    """Inline extraction runs under inference mode; the cached spectral constants it builds must still let a
    later call in the same process (e.g. the NOA's loss) differentiate."""
    from spinlock.features.frames import _constants, _projection
    from spinlock.features.temporal.stats import spectral_grid

    for cached in (_projection, _constants, spectral_grid):
        cached.cache_clear()
    x = torch.as_tensor(_trajectories(B=1, M=2, T=3, C=1, n=8, seed=7))
    with torch.inference_mode():
        SummaryFamily().compute(FeatureInputs(trajectory=x))
    leaf = x.clone().requires_grad_(True)
    SummaryFamily().compute(FeatureInputs(trajectory=leaf)).sum().backward()
    assert leaf.grad is not None and torch.isfinite(leaf.grad).all()
