"""Shared conventions and spectral/correlation primitives for statistics of 2-D periodic fields ``(..., H, W)``.

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


def guard(mean_square: torch.Tensor) -> torch.Tensor:
    return REL_EPS * mean_square + ABS_EPS


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
# cached constants must be ordinary tensors even when first built under torch.inference_mode()
@torch.inference_mode(False)
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


# --------------------------------------------------------------------------------------------- cross-channel


def correlation_from_covariance(cov: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """Pearson correlation matrix ``(..., C, C)`` from the channel covariance ``(..., C, C)`` over pixels and
    the channel means ``(..., C)``.

    Each variance is guarded relative to its channel's mean square, so a constant channel correlates 0 with
    the others (and ~0 with itself).
    """
    var = torch.diagonal(cov, dim1=-2, dim2=-1)
    s = torch.sqrt(var + guard(var + mean * mean))
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
