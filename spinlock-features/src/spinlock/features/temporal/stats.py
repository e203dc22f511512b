"""Vectorised, differentiable statistics of 2-D periodic fields ``(..., H, W)``.

Conventions (shared by every function here):

- The domain has unit length on both axes; grid spacing is ``1/H`` and ``1/W``, so derivatives are per
  domain length and wavenumbers are in **cycles per domain** (integers on the FFT grid). Band edges, centroids
  and dominant wavenumbers all use these units (the reference compared cycles/pixel with index units, BUG-14).
- Denominators are guarded *relative to the field's own scale* (``mean(u²)``), never with batch statistics,
  so every value depends on its own field only (BUG-13) and a constant field gives finite values (0 for
  std, skewness, excess kurtosis, band fractions and spectral slope).
- Everything is differentiable with respect to the field (min/max and |·| are differentiable almost
  everywhere; the dominant wavenumber is a soft argmax).
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import attrs
import torch

#: relative guard: variances below ``REL_EPS * mean(u²)`` count as a constant field
REL_EPS = 1e-10
#: absolute floor of every guard (its square is still a normal float32)
ABS_EPS = 1e-18


def _guard(mean_square: torch.Tensor) -> torch.Tensor:
    return REL_EPS * mean_square + ABS_EPS


# --------------------------------------------------------------------------------------------------- spatial


def moments(u: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean, std, skewness and excess kurtosis of each field over its last two axes (population moments).

    Returns also ``mean_square`` (mean of u², the scale used by the guards). Skewness is
    ``m3 / (m2 + g)^1.5`` and excess kurtosis ``(m4 - 3 m2²) / (m2 + g)²`` with ``g = 1e-10·mean(u²)``:
    both are 0 for a constant field and match the textbook (biased) estimators to ~1e-10 otherwise.
    """
    mean = u.mean(dim=(-2, -1))
    d = u - mean[..., None, None]
    d2 = d * d
    m2 = d2.mean(dim=(-2, -1))
    m3 = (d2 * d).mean(dim=(-2, -1))
    m4 = (d2 * d2).mean(dim=(-2, -1))
    mean_square = m2 + mean * mean
    v = m2 + _guard(mean_square)
    return {
        "mean": mean,
        "std": torch.sqrt(v),
        "skewness": m3 / v**1.5,
        "kurtosis": (m4 - 3.0 * m2 * m2) / (v * v),
        "mean_square": mean_square,
        "variance": m2,
    }


def gradients(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Circular central differences ``(∂u/∂y, ∂u/∂x)`` per domain length (axis -2 is y, axis -1 is x)."""
    H, W = u.shape[-2], u.shape[-1]
    dy = (torch.roll(u, -1, dims=-2) - torch.roll(u, 1, dims=-2)) * (H / 2.0)
    dx = (torch.roll(u, -1, dims=-1) - torch.roll(u, 1, dims=-1)) * (W / 2.0)
    return dy, dx


def laplacian(u: torch.Tensor) -> torch.Tensor:
    """Circular 5-point Laplacian per squared domain length."""
    H, W = u.shape[-2], u.shape[-1]
    lap_y = (torch.roll(u, -1, dims=-2) + torch.roll(u, 1, dims=-2) - 2.0 * u) * float(H * H)
    lap_x = (torch.roll(u, -1, dims=-1) + torch.roll(u, 1, dims=-1) - 2.0 * u) * float(W * W)
    return lap_y + lap_x


def gradient_stats(u: torch.Tensor, mean_square: torch.Tensor) -> dict[str, torch.Tensor]:
    """``gradient_energy`` = mean |∇u|², ``gradient_magnitude_mean`` = mean |∇u| (ε-smoothed),
    ``gradient_anisotropy`` = mean(∂x u)² / mean |∇u|² ∈ [0, 1] (½ for isotropic fields),
    ``laplacian_energy`` = mean (∇²u)²."""
    dy, dx = gradients(u)
    gx2 = (dx * dx).mean(dim=(-2, -1))
    gy2 = (dy * dy).mean(dim=(-2, -1))
    H, W = u.shape[-2], u.shape[-1]
    g = _guard(mean_square) * float(H * W)
    mag = torch.sqrt(dx * dx + dy * dy + g[..., None, None]).mean(dim=(-2, -1))
    energy = gx2 + gy2
    lap = laplacian(u)
    return {
        "gradient_energy": energy,
        "gradient_magnitude_mean": mag,
        "gradient_anisotropy": (gx2 + 0.5 * g) / (energy + g),
        "laplacian_energy": (lap * lap).mean(dim=(-2, -1)),
    }


# -------------------------------------------------------------------------------------------------- spectral


@attrs.frozen(eq=False)
class SpectralGrid:
    """Precomputed per-mode quantities of the rfft2 half-plane of an ``H × W`` grid (float64, CPU).

    ``weights`` counts each half-plane mode once or twice (Hermitian symmetry) with the DC mode set to 0;
    ``k`` is |k| in cycles per domain; ``shells`` maps modes to integer shells 1..S (S = min(H, W)//2,
    rounding |k|; modes beyond S are left out of the radial spectrum only); ``bands`` maps modes to
    ``n_bands`` bands with geometric edges ``S^(i/n)`` (the first band starts just above DC, the last one
    runs to the grid corners; a band is ``(lo, hi]``). ``projection`` stacks [w·shells/count, w·bands, w·k, w·k², w] so that one
    matmul of the power spectrum gives every weighted sum.
    """

    H: int
    W: int
    n_bands: int
    weights: torch.Tensor  # (K,)
    k: torch.Tensor  # (K,)
    projection: torch.Tensor  # (K, S + n_bands + 3)
    shell_k: torch.Tensor  # (S,)
    slope_weights: torch.Tensor  # (S,): slope = Σ slope_weights · log E(s)
    band_edges: tuple[float, ...]
    n_modes: int

    @property
    def n_shells(self) -> int:
        return int(self.shell_k.numel())


@lru_cache(maxsize=32)
def spectral_grid(H: int, W: int, n_bands: int) -> SpectralGrid:
    """The :class:`SpectralGrid` of an ``H × W`` field with ``n_bands`` bands (cached)."""
    ky = torch.fft.fftfreq(H, d=1.0 / H, dtype=torch.float64)
    kx = torch.fft.rfftfreq(W, d=1.0 / W, dtype=torch.float64)
    k = torch.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2).reshape(-1)
    wx = torch.full((kx.numel(),), 2.0, dtype=torch.float64)
    wx[0] = 1.0
    if W % 2 == 0:
        wx[-1] = 1.0
    weights = wx[None, :].expand(H, -1).reshape(-1).clone()
    weights[0] = 0.0  # DC
    S = min(H, W) // 2
    shell_idx = torch.round(k).long()
    shells = torch.zeros(k.numel(), S, dtype=torch.float64)
    valid = (shell_idx >= 1) & (shell_idx <= S)
    shells[valid.nonzero().squeeze(1), shell_idx[valid] - 1] = 1.0
    shells = shells * weights[:, None]
    shells = shells / shells.sum(dim=0, keepdim=True)  # mean power per mode in each shell
    edges = tuple(float(S) ** (i / n_bands) for i in range(1, n_bands))
    bounds = (0.0, *edges, math.inf)
    bands = torch.stack([((k > lo) & (k <= hi)).double() for lo, hi in itertools.pairwise(bounds)], 1)
    bands[0] = 0.0
    projection = torch.cat(
        [
            shells,
            bands * weights[:, None],
            (weights * k)[:, None],
            (weights * k * k)[:, None],
            weights[:, None],
        ],
        dim=1,
    )
    shell_k = torch.arange(1, S + 1, dtype=torch.float64)
    x = torch.log(shell_k)
    xc = x - x.mean()
    slope_weights = xc / (xc * xc).sum()
    return SpectralGrid(
        H=H,
        W=W,
        n_bands=n_bands,
        weights=weights,
        k=k,
        projection=projection,
        shell_k=shell_k,
        slope_weights=slope_weights,
        band_edges=edges,
        n_modes=H * W - 1,
    )


def power_spectrum(u: torch.Tensor) -> torch.Tensor:
    """|rfft2(u)|² with ``norm="ortho"``, flattened to ``(..., K)`` half-plane modes (Σ w·P = Σ (u-ū)²·…)."""
    F = torch.fft.rfft2(u, norm="ortho")
    return (F.real * F.real + F.imag * F.imag).flatten(-2)


def spectral_stats(
    u: torch.Tensor, mean_square: torch.Tensor, n_bands: int, sharpness: float = 10.0
) -> dict[str, torch.Tensor]:
    """Spectral statistics of each field (wavenumbers in cycles per domain, DC excluded).

    ``band_fraction`` ``(..., n_bands)``: power in each band / total power; ``centroid`` Σk·P/ΣP;
    ``bandwidth`` sqrt(Σ(k-centroid)²P/ΣP); ``slope``: least-squares slope of log E(k) against log k over the
    shells k = 1..min(H, W)//2, with E the radially averaged power per mode; ``entropy``: Shannon entropy of
    P/ΣP over the (double-counted) non-DC modes divided by its maximum log(#modes), in [0, 1];
    ``dominant_k``: soft argmax Σ k·softmax(β log E(k)) (β = ``sharpness``) — differentiable and equal to the
    peak shell when one shell dominates. A constant field gives 0 for fractions, centroid, bandwidth,
    entropy and slope.
    """
    H, W = u.shape[-2], u.shape[-1]
    grid = spectral_grid(H, W, n_bands)
    P = power_spectrum(u)
    proj = grid.projection.to(dtype=P.dtype, device=P.device)
    sums = P @ proj
    S = grid.n_shells
    E = sums[..., :S]
    band = sums[..., S : S + n_bands]
    k1, k2, total = sums[..., S + n_bands], sums[..., S + n_bands + 1], sums[..., S + n_bands + 2]
    g_total = _guard(mean_square) * float(H * W)
    denom = total + g_total
    centroid = k1 / denom
    spread = (k2 / denom - centroid * centroid).clamp_min(0.0)
    bandwidth = torch.sqrt(spread + _guard(centroid * centroid + 1.0))
    logE = torch.log(E + _guard(mean_square)[..., None])
    slope = logE @ grid.slope_weights.to(dtype=P.dtype, device=P.device)
    soft = torch.softmax(sharpness * logE, dim=-1)
    dominant = soft @ grid.shell_k.to(dtype=P.dtype, device=P.device)
    w = grid.weights.to(dtype=P.dtype, device=P.device)
    p = P / denom[..., None]
    entropy = -(w * p * torch.log(p + ABS_EPS)).sum(dim=-1) / math.log(grid.n_modes)
    return {
        "band_fraction": band / denom[..., None],
        "centroid": centroid,
        "bandwidth": bandwidth,
        "slope": slope,
        "entropy": entropy,
        "dominant_k": dominant,
    }


# --------------------------------------------------------------------------------------------- cross-channel


def channel_correlation(u: torch.Tensor) -> torch.Tensor:
    """Pearson correlation matrix ``(..., C, C)`` of the channels of ``(..., C, H, W)`` over pixels.

    Each variance is guarded relative to its channel's mean square, so a constant channel correlates 0 with
    the others (and ~0 with itself).
    """
    flat = u.flatten(-2)
    mean = flat.mean(dim=-1, keepdim=True)
    d = flat - mean
    n = flat.shape[-1]
    cov = d @ d.transpose(-1, -2) / n
    var = torch.diagonal(cov, dim1=-2, dim2=-1)
    ms = var + mean.squeeze(-1) ** 2
    s = torch.sqrt(var + _guard(ms))
    return cov / (s[..., :, None] * s[..., None, :])


def correlation_stats(corr: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-pair correlations ``pairs`` ``(..., C(C-1)/2)`` (upper triangle, row-major), mean and max of
    |corr| off the diagonal, and the participation ratio ``(tr R)² / Σ R_ij²`` ∈ [1, C] (the effective number of
    independent channels, (Σλ)²/Σλ² of the correlation matrix without an eigendecomposition)."""
    C = corr.shape[-1]
    iu = torch.triu_indices(C, C, offset=1, device=corr.device)
    pairs = corr[..., iu[0], iu[1]]
    a = pairs.abs()
    frob = (corr * corr).sum(dim=(-2, -1))
    trace = torch.diagonal(corr, dim1=-2, dim2=-1).sum(dim=-1)
    return {
        "pairs": pairs,
        "abs_corr_mean": a.mean(dim=-1),
        "abs_corr_max": a.amax(dim=-1),
        "participation_ratio": trace * trace / (frob + ABS_EPS),
    }
