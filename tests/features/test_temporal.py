"""TEMPORAL feature family: shapes, values against numpy/scipy, batch independence, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch

from spinlock.core.features.family import FeatureFamily, FeatureInputs
from spinlock.features.frames import FIELD_STATS, frame_statistics
from spinlock.features.temporal import TemporalConfig, register_temporal
from spinlock.features.temporal.family import TemporalFamily


def _run(x: torch.Tensor, config: TemporalConfig | None = None) -> tuple[torch.Tensor, list[str], list[str]]:
    fam = TemporalFamily(config)
    inp = FeatureInputs(trajectory=x)
    cols = fam.columns(inp)
    return fam.compute(inp), list(cols.names), list(cols.categories)


def _col(values: torch.Tensor, names: list[str], name: str) -> np.ndarray:
    return values[..., names.index(name)].detach().double().numpy()


def _grf(n: int, ell: float, rng: np.random.Generator, amp: float = 1.0) -> np.ndarray:
    """Gaussian random field with correlation length ``ell`` (domain units) on an n×n periodic grid."""
    k = np.fft.fftfreq(n) * n
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    noise = np.fft.fft2(rng.standard_normal((n, n)))
    field = np.real(np.fft.ifft2(noise * np.exp(-0.5 * k2 * (2 * np.pi * ell) ** 2)))
    return amp * field / field.std()


def test_protocol_and_registration() -> None:
    fam = TemporalFamily()
    assert isinstance(fam, FeatureFamily)
    assert fam.name == "temporal" and fam.version == "1.0" and fam.inputs == {"trajectory"}

    calls: list[tuple[str, dict[str, object]]] = []

    class Recorder:
        def add(self, name: str, **kwargs: object) -> None:
            calls.append((name, kwargs))

    register_temporal(Recorder())  # type: ignore[arg-type]
    assert calls[0][0] == "temporal"
    assert calls[0][1]["config_cls"] is TemporalConfig
    assert calls[0][1]["factory"] == "spinlock.features.temporal.family:TemporalFamily"


@pytest.mark.parametrize("C", [1, 3])
def test_shapes_depend_only_on_channels(C: int) -> None:
    a, names, cats = _run(torch.randn(2, 2, 5, C, 16, 16))
    b, names_b, _ = _run(torch.randn(3, 1, 4, C, 24, 20))
    assert a.shape == (2, 5, len(names)) and b.shape == (3, 4, len(names))
    assert names == names_b and a.dtype == torch.float32
    assert torch.isfinite(a).all() and torch.isfinite(b).all()
    assert set(cats) == ({"spatial", "spectral"} if C == 1 else {"spatial", "spectral", "cross_channel"})
    expected = 10 * C + 9 * C + 3 * C + (0 if C == 1 else C * (C - 1) // 2 + 3)
    assert len(names) == expected
    # chunked over samples gives the same values
    x = torch.randn(3, 2, 7, C, 16, 16)
    whole = frame_statistics(x)
    chunked = frame_statistics(x, chunk_elements=2 * 7 * C * 16 * 16)
    for name in FIELD_STATS:
        torch.testing.assert_close(whole[name], chunked[name])
    torch.testing.assert_close(whole.lag_channel_cov, chunked.lag_channel_cov)


def test_category_toggles() -> None:
    _, names, cats = _run(
        torch.randn(1, 1, 2, 2, 16, 16), TemporalConfig(spectral=False, realization_std=False)
    )
    assert "spectral" not in cats and "spatial_skewness_c1" in names and "cross_channel_corr_c0_c1" in names
    with pytest.raises(ValueError, match="at least one"):
        TemporalConfig(spatial=False, spectral=False, cross_channel=False)


def test_spatial_against_numpy_scipy() -> None:
    rng = np.random.default_rng(0)
    u = rng.standard_normal((2, 3, 12, 10)) ** 3  # skewed, heavy-tailed; (M, T, H, W)
    out, names, _ = _run(torch.from_numpy(u)[None, :, :, None])  # float64 in, float64 out
    assert out.dtype == torch.float64
    H, W = u.shape[-2:]
    flat = u.reshape(2, 3, -1)
    np.testing.assert_allclose(
        _col(out, names, "spatial_skewness_c0")[0], scipy.stats.skew(flat, axis=-1).mean(0), rtol=1e-7
    )
    np.testing.assert_allclose(
        _col(out, names, "spatial_kurtosis_c0")[0], scipy.stats.kurtosis(flat, axis=-1).mean(0), rtol=1e-7
    )
    np.testing.assert_allclose(_col(out, names, "spatial_std_c0")[0], flat.std(-1).mean(0), rtol=1e-7)
    padded = np.pad(u, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="wrap")
    gy = np.asarray(np.gradient(padded, axis=-2))[..., 1:-1, 1:-1] * H
    gx = np.asarray(np.gradient(padded, axis=-1))[..., 1:-1, 1:-1] * W
    energy = (gx**2 + gy**2).mean(axis=(-2, -1))
    np.testing.assert_allclose(_col(out, names, "gradient_energy_c0")[0], energy.mean(0), rtol=1e-7)
    np.testing.assert_allclose(_col(out, names, "gradient_energy_c0_rstd")[0], energy.std(0), rtol=1e-6)
    lap = (np.roll(u, 1, -2) + np.roll(u, -1, -2) - 2 * u) * H * H + (
        np.roll(u, 1, -1) + np.roll(u, -1, -1) - 2 * u
    ) * W * W
    np.testing.assert_allclose(
        _col(out, names, "laplacian_energy_c0")[0], (lap**2).mean(axis=(-2, -1)).mean(0), rtol=1e-7
    )


def test_band_fractions_and_centroid_against_numpy_fft() -> None:
    rng = np.random.default_rng(1)
    u = np.stack([_grf(16, 0.03, rng), rng.standard_normal((16, 16)) + 3.0])  # (T=2, 16, 16)
    out, names, _ = _run(torch.from_numpy(u)[None, None, :, None])
    H = W = 16
    P = np.abs(np.fft.fft2(u - u.mean(axis=(-2, -1), keepdims=True))) ** 2 / (H * W)
    ky, kx = np.meshgrid(np.fft.fftfreq(H) * H, np.fft.fftfreq(W) * W, indexing="ij")
    k = np.sqrt(ky**2 + kx**2)
    total = P.sum(axis=(-2, -1))
    bounds = [0.0, *(8.0 ** (i / 4) for i in range(1, 4)), np.inf]
    for i in range(4):
        mask = (k > bounds[i]) & (k <= bounds[i + 1])
        expected = (P * mask).sum(axis=(-2, -1)) / total
        np.testing.assert_allclose(
            _col(out, names, f"band_fraction_{i}_c0")[0], expected, rtol=1e-8, atol=1e-12
        )
    centroid = (P * k).sum(axis=(-2, -1)) / total
    np.testing.assert_allclose(_col(out, names, "spectral_centroid_c0")[0], centroid, rtol=1e-8)


def test_cross_channel_against_numpy() -> None:
    rng = np.random.default_rng(2)
    base = rng.standard_normal((3, 4, 16, 16))
    u = np.stack([base[0], 0.7 * base[0] + base[1], -base[1] + 0.2 * base[2]], axis=1)  # (T=4, C=3, H, W)
    out, names, _ = _run(torch.from_numpy(u)[None, None])
    for t in range(4):
        R = np.corrcoef(u[t].reshape(3, -1))
        assert _col(out, names, "cross_channel_corr_c0_c1")[0, t] == pytest.approx(R[0, 1], rel=1e-8)
        assert _col(out, names, "cross_channel_corr_c1_c2")[0, t] == pytest.approx(R[1, 2], rel=1e-8)
        off = np.abs(R[np.triu_indices(3, 1)])
        assert _col(out, names, "cross_channel_abs_corr_max")[0, t] == pytest.approx(off.max(), rel=1e-8)
        lam = np.linalg.eigvalsh(R)
        pr = lam.sum() ** 2 / (lam**2).sum()
        assert _col(out, names, "cross_channel_participation_ratio")[0, t] == pytest.approx(pr, rel=1e-7)


@pytest.mark.parametrize(("ky", "kx"), [(0, 5), (3, 4), (6, 0)])
def test_sinusoid_dominant_wavenumber_and_centroid(ky: int, kx: int) -> None:
    n = 32
    y, x = np.meshgrid(np.arange(n) / n, np.arange(n) / n, indexing="ij")
    u = np.sin(2 * np.pi * (ky * y + kx * x)) + 0.5
    out, names, _ = _run(torch.from_numpy(u).float()[None, None, None, None])
    k0 = np.hypot(ky, kx)
    assert _col(out, names, "spectral_centroid_c0")[0, 0] == pytest.approx(k0, rel=1e-4)
    assert _col(out, names, "dominant_wavenumber_c0")[0, 0] == pytest.approx(round(k0), abs=1e-3)
    assert _col(out, names, "spectral_bandwidth_c0")[0, 0] < 1e-2


def test_centroid_decreases_with_correlation_length() -> None:
    rng = np.random.default_rng(3)
    ells = [0.01, 0.02, 0.04, 0.08]
    u = np.stack([_grf(64, ell, rng) for ell in ells])
    out, names, _ = _run(torch.from_numpy(u).float()[None, None, :, None])
    centroid = _col(out, names, "spectral_centroid_c0")[0]
    assert np.all(np.diff(centroid) < 0), centroid
    # steeper spectra for smoother fields, until the decay reaches the guard floor (1e-10 relative)
    assert np.all(np.diff(_col(out, names, "spectral_slope_c0")[0, :3]) < 0)


def test_batch_independence() -> None:
    x = torch.randn(5, 2, 3, 3, 16, 16) * torch.logspace(-2, 2, 5)[:, None, None, None, None, None]
    batch, _, _ = _run(x)
    for i in range(5):
        alone, _, _ = _run(x[i : i + 1])
        torch.testing.assert_close(alone[0], batch[i], rtol=1e-6, atol=1e-6)


def test_constant_and_zero_fields_are_finite() -> None:
    x = torch.zeros(2, 1, 2, 2, 8, 8)
    x[1] = 3.0
    out, names, _ = _run(x)
    assert torch.isfinite(out).all()
    assert _col(out, names, "spatial_kurtosis_c0")[1, 0] == pytest.approx(0.0, abs=1e-6)


def test_gradcheck_float64() -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 1, 2, 2, 6, 6, dtype=torch.float64, requires_grad=True)
    fam = TemporalFamily()

    def fn(t: torch.Tensor) -> torch.Tensor:
        return fam.compute(FeatureInputs(trajectory=t))

    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-5, rtol=1e-3)


def test_no_column_constant_across_diverse_set() -> None:
    rng = np.random.default_rng(4)
    fields = []
    for i in range(12):
        ell = [0.005, 0.02, 0.05, 0.1][i % 4]
        chans = [
            _grf(32, ell * (1 + 0.5 * c), rng, amp=10.0 ** rng.uniform(-2, 2)) + rng.normal()
            for c in range(3)
        ]
        chans[2] = chans[2] + rng.uniform(-1, 1) * chans[0]  # varied channel coupling
        fields.append(np.stack(chans))
    u = np.stack(fields).reshape(6, 2, 1, 3, 32, 32)  # (B, M, T, C, H, W)
    u = np.concatenate([u, np.exp(u / np.abs(u).max())], axis=2)  # second time step: skewed fields
    out, names, _ = _run(torch.from_numpy(u).float())
    spread = out.reshape(-1, out.shape[-1]).std(dim=0)
    constant = [n for n, s in zip(names, spread.tolist(), strict=True) if not s > 1e-6]
    assert not constant, constant


@pytest.mark.parametrize(
    "bad",
    [
        torch.randn(2, 3, 4, 8, 8),
        torch.randn(1, 1, 1, 1, 1, 8, 8),
        None,
        torch.zeros(1, 1, 1, 1, 8, 8).long(),
    ],
)
def test_bad_input(bad: torch.Tensor | None) -> None:
    with pytest.raises(ValueError, match="trajectory"):
        TemporalFamily().compute(FeatureInputs(trajectory=bad))
