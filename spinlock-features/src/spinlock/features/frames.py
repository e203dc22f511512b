"""Per-frame statistics of a trajectory, computed once per batch and shared by TEMPORAL and SUMMARY.

Every field ``u`` of a trajectory ``(batch, realizations, time, channels, height, width)`` is reduced to a
handful of scalars in as few passes over memory as possible: one real FFT gives, through a single matmul of
its power spectrum, the variance, gradient and Laplacian energies (central-difference and 5-point stencils
are exact multipliers in Fourier space), band fractions, centroid, bandwidth, slope, entropy, neighbour
autocorrelations and the integral length; one circular convolution gives the gradient field for the
gradient magnitude; products of consecutive spectra give the optical-flow numerators; two batched matmuls
give the channel covariances at lags 0 and 1. Units and guards follow :mod:`spinlock.features.temporal.stats`
(unit domain, wavenumbers in cycles per domain, denominators guarded relative to the field's own scale).

:func:`frame_statistics` is memoised in :attr:`FeatureInputs.scratch`, so families that agree on the
spectral settings compute it once per batch. Everything is differentiable with respect to the trajectory.
"""

from __future__ import annotations

import math
from functools import lru_cache

import attrs
import torch
import torch.nn.functional as F

from spinlock.core.features.family import FeatureInputs
from spinlock.features.temporal.stats import ABS_EPS, SpectralGrid, guard, spectral_grid

#: per-field statistics, each ``(B, M, T, C)``
FIELD_STATS: tuple[str, ...] = (
    "mean",
    "variance",
    "mean_square",
    "std",
    "skewness",
    "kurtosis",
    "minimum",
    "maximum",
    "abs_mean",
    "gradient_x_energy",
    "gradient_y_energy",
    "gradient_energy",
    "gradient_magnitude_mean",
    "gradient_anisotropy",
    "laplacian_energy",
    "spectral_centroid",
    "spectral_bandwidth",
    "spectral_slope",
    "spectral_entropy",
    "dominant_wavenumber",
    "corr_lag1_x",
    "corr_lag1_y",
    "corr_eighth",
    "integral_length",
)


@attrs.frozen(eq=False)
class FrameStatistics:
    """Statistics of every field of a trajectory ``(B, M, T, C, H, W)``.

    :param fields: name → ``(B, M, T, C)`` for every name in :data:`FIELD_STATS`.
    :param band_fraction: ``(B, M, T, C, n_bands)`` power share of each radial band.
    :param channel_cov: ``(B, M, T, C, C)`` covariance of the channels over pixels, ⟨u′_i, u′_j⟩ / HW.
    :param lag_channel_cov: ``(B, M, T-1, C, C)`` ⟨u′_i(t+1), u′_j(t)⟩ / HW (diagonal: each channel's own
        frame-to-frame covariance).
    :param flow_x: ``(B, M, T-1, C)`` optical-flow velocity along x between stored frames t and t+1, in
        domain lengths per stored frame: with ``flow_y``, the least-squares (over the domain) v of
        ∂t u + v · ∇u = 0 with ∂t u = u(t+1) − u(t).
    """

    fields: dict[str, torch.Tensor]
    band_fraction: torch.Tensor
    channel_cov: torch.Tensor
    lag_channel_cov: torch.Tensor
    flow_x: torch.Tensor
    flow_y: torch.Tensor

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.fields[name]


@attrs.frozen(eq=False)
class _Projection:
    """Columns of the one matmul that turns a half-plane power spectrum into every weighted sum."""

    grid: SpectralGrid
    matrix: torch.Tensor  # (K, S + n_bands + 11), zero-padded to a multiple of 16 columns
    flow: torch.Tensor  # (K, 2): w·W·sin(2π kx/W), w·H·sin(2π ky/H)


@lru_cache(maxsize=32)
# cached constants must be ordinary tensors even when first built under torch.inference_mode()
@torch.inference_mode(False)
def _projection(H: int, W: int, n_bands: int) -> _Projection:
    grid = spectral_grid(H, W, n_bands)
    ky = torch.fft.fftfreq(H, d=1.0 / H, dtype=torch.float64)
    kx = torch.fft.rfftfreq(W, d=1.0 / W, dtype=torch.float64)
    KY = ky[:, None].expand(H, kx.numel()).reshape(-1)
    KX = kx[None, :].expand(H, kx.numel()).reshape(-1)
    w = grid.weights
    sy = torch.sin(2 * math.pi * KY / H) * H  # central difference multipliers (per domain length)
    sx = torch.sin(2 * math.pi * KX / W) * W
    lap = 4 * torch.sin(math.pi * KY / H) ** 2 * H * H + 4 * torch.sin(math.pi * KX / W) ** 2 * W * W
    eighth_y, eighth_x = max(1, H // 8), max(1, W // 8)
    inv_k = torch.where(grid.k > 0, 1.0 / grid.k.clamp_min(1e-12), torch.zeros_like(grid.k))
    extra = torch.stack(
        [
            w * sx * sx,
            w * sy * sy,
            w * lap * lap,
            w * sx * sy,
            w * torch.cos(2 * math.pi * KX / W),
            w * torch.cos(2 * math.pi * KY / H),
            w
            * 0.5
            * (torch.cos(2 * math.pi * KX * eighth_x / W) + torch.cos(2 * math.pi * KY * eighth_y / H)),
            w * inv_k,
        ],
        dim=1,
    )
    matrix = torch.cat([grid.projection, extra], dim=1)
    # GEMM kernels run narrow right-hand sides at about half speed when the width is not a multiple of 16
    matrix = F.pad(matrix, (0, -matrix.shape[1] % 16))
    return _Projection(
        grid=grid,
        matrix=matrix,
        flow=torch.stack([w * sx, w * sy], dim=1),
    )


def gradient_field(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Circular central differences ``(∂u/∂x, ∂u/∂y)`` of ``(..., H, W)`` fields, per domain length."""
    H, W = u.shape[-2:]
    # one circular pad, then two subtractions of shifted views (cheaper than four rolls or a 1-channel conv)
    dx, dy = _grid_differences(u)
    return dx * (W / 2.0), dy * (H / 2.0)


def _grid_differences(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``u(x+1) - u(x-1)`` and ``u(y+1) - u(y-1)`` (grid units, circular) of ``(..., H, W)`` fields."""
    if not (torch.is_grad_enabled() and u.requires_grad):
        return _grid_differences_into(u)
    H, W = u.shape[-2:]
    p = F.pad(u.reshape(-1, 1, H, W), (1, 1, 1, 1), mode="circular")[:, 0]
    dx = p[:, 1:-1, 2:] - p[:, 1:-1, :-2]
    dy = p[:, 2:, 1:-1] - p[:, :-2, 1:-1]
    return dx.reshape(u.shape), dy.reshape(u.shape)


def _grid_differences_into(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_grid_differences` without autograd, about twice as fast: the interior differences are taken
    on long contiguous runs (whole rows for y; the flattened field for x, whose two wrong columns at the row
    ends are then overwritten with their circular values), written in place (``out=`` is not differentiable).
    """
    H, W = u.shape[-2:]
    u3 = u.reshape(-1, H, W)
    dy = torch.empty_like(u3)
    torch.sub(u3[:, 2:], u3[:, :-2], out=dy[:, 1:-1])
    torch.sub(u3[:, 1], u3[:, -1], out=dy[:, 0])
    torch.sub(u3[:, 0], u3[:, -2], out=dy[:, -1])
    flat = u3.reshape(-1, H * W)
    dx = torch.empty_like(flat)
    torch.sub(flat[:, 2:], flat[:, :-2], out=dx[:, 1:-1])
    dx3 = dx.view(-1, H, W)
    torch.sub(u3[:, :, 1], u3[:, :, -1], out=dx3[:, :, 0])
    torch.sub(u3[:, :, 0], u3[:, :, -2], out=dx3[:, :, -1])
    return dx.view(u.shape), dy.view(u.shape)


def check_trajectory(traj: torch.Tensor | None, family: str) -> torch.Tensor:
    """``traj`` if it is a floating ``(batch, realizations, time, channels, height, width)`` tensor with
    M, C ≥ 1 and fields of at least 4×4; otherwise a ValueError that names ``family``."""
    if traj is None:
        raise ValueError(f"{family} needs inputs.trajectory, got None")
    if not isinstance(traj, torch.Tensor):
        raise ValueError(f"{family}: trajectory must be a torch.Tensor, got {type(traj).__name__}")
    if traj.ndim != 6:
        raise ValueError(
            f"{family}: trajectory must be 6-D (batch, realizations, time, channels, height, width), "
            f"got shape {tuple(traj.shape)}"
        )
    if traj.shape[1] < 1 or traj.shape[3] < 1:
        raise ValueError(
            f"{family}: trajectory needs at least one realization and one channel, got {tuple(traj.shape)}"
        )
    if traj.shape[-2] < 4 or traj.shape[-1] < 4:
        raise ValueError(f"{family}: trajectory fields must be at least 4×4, got {tuple(traj.shape[-2:])}")
    if not traj.is_floating_point():
        raise ValueError(f"{family}: trajectory must be floating point, got {traj.dtype}")
    return traj


def frame_statistics(
    trajectory: torch.Tensor, n_bands: int = 4, sharpness: float = 10.0, chunk_elements: int = 1 << 21
) -> FrameStatistics:
    """Statistics of every field of ``trajectory`` ``(B, M, T, C, H, W)`` (float, T ≥ 1, H, W ≥ 4).

    Samples are processed in chunks of about ``chunk_elements`` input elements (at least one sample, all its
    time steps); a sample's values never depend on its chunk.
    """
    B, M, T, C, H, W = trajectory.shape
    per_sample = max(1, M * T * C * H * W)
    step = max(1, min(B, chunk_elements // per_sample))
    parts = [_chunk_statistics(trajectory[b : b + step], n_bands, sharpness) for b in range(0, B, step)]
    if len(parts) == 1:
        return parts[0]
    return FrameStatistics(
        fields={k: torch.cat([p.fields[k] for p in parts]) for k in FIELD_STATS},
        band_fraction=torch.cat([p.band_fraction for p in parts]),
        channel_cov=torch.cat([p.channel_cov for p in parts]),
        lag_channel_cov=torch.cat([p.lag_channel_cov for p in parts]),
        flow_x=torch.cat([p.flow_x for p in parts]),
        flow_y=torch.cat([p.flow_y for p in parts]),
    )


def shared_frame_statistics(
    inputs: FeatureInputs, trajectory: torch.Tensor, n_bands: int, sharpness: float
) -> FrameStatistics:
    """:func:`frame_statistics` of ``trajectory``, memoised in ``inputs.scratch`` for the batch."""
    key = ("spinlock.features.frames", id(trajectory), trajectory.dtype, n_bands, float(sharpness))
    cached = inputs.scratch.get(key)
    if cached is None:
        cached = frame_statistics(trajectory, n_bands, sharpness)
        inputs.scratch[key] = cached
    return cached


@lru_cache(maxsize=64)
# cached constants must be ordinary tensors even when first built under torch.inference_mode()
@torch.inference_mode(False)
def _constants(
    proj: _Projection, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The projection's tensors in the computation's dtype and device (converted once)."""
    grid = proj.grid
    return tuple(  # type: ignore[return-value]
        t.to(dtype=dtype, device=device)
        for t in (proj.matrix, proj.flow, grid.slope_weights, grid.shell_k, grid.weights)
    )


def _chunk_statistics(x: torch.Tensor, n_bands: int, sharpness: float) -> FrameStatistics:
    H, W = x.shape[-2:]
    HW = float(H * W)
    proj = _projection(H, W, n_bands)
    grid = proj.grid
    S = grid.n_shells

    mean = x.mean(dim=(-2, -1))
    d = x - mean[..., None, None]
    flat_d = d.flatten(-2)
    d2 = flat_d * flat_d
    m3 = (d2 * flat_d).sum(-1) / HW
    m4 = (d2 * d2).sum(-1) / HW

    spectrum = torch.fft.rfft2(x, norm="ortho")
    power = (spectrum.real * spectrum.real + spectrum.imag * spectrum.imag).flatten(-2)
    matrix, flow_matrix, slope_weights, shell_k, weights = _constants(proj, power.dtype, power.device)
    sums = power @ matrix
    total = sums[..., S + n_bands + 2]  # Σ_{k≠0} w P = HW · variance
    variance = total / HW
    mean_square = variance + mean * mean
    g = guard(mean_square)
    v = variance + g
    denom = total + g * HW
    extra = sums[..., S + n_bands + 3 : S + n_bands + 11] / denom[..., None]
    gx2 = extra[..., 0] * denom / HW
    gy2 = extra[..., 1] * denom / HW
    lap2 = extra[..., 2] * denom / HW
    gxy = extra[..., 3] * denom / HW

    E = sums[..., :S]
    k1, k2 = sums[..., S + n_bands], sums[..., S + n_bands + 1]
    centroid = k1 / denom
    spread = (k2 / denom - centroid * centroid).clamp_min(0.0)
    logE = torch.log(E + g[..., None])
    # Σ w·p·log(p + ε) with p = P / D, rearranged so that only the log passes touch the spectrum:
    # (Σ w·P·log(P + ε·D)) / D − log(D) · (Σ w·P) / D, and Σ w·P = total. The argument is > 0, so a plain
    # in-place log replaces xlogy (whose zero handling is not needed and which runs at half the speed).
    plogp = (power * (power + ABS_EPS * denom[..., None]).log_()) @ weights
    entropy = (torch.log(denom) * total - plogp) / (denom * math.log(grid.n_modes))

    dx, dy = _grid_differences(x)
    grad_guard = g * HW
    squared = torch.addcmul(grad_guard[..., None, None], dx, dx, value=W * W / 4.0)
    squared = squared.addcmul_(dy, dy, value=H * H / 4.0)
    magnitude = squared.sqrt_().mean(dim=(-2, -1))
    energy = gx2 + gy2
    # not torch.aminmax: it has no derivative before torch 2.13, and these features must be differentiable
    maximum, minimum = x.amax(dim=(-2, -1)), x.amin(dim=(-2, -1))

    # optical flow between consecutive stored frames from the cross spectrum F(t+1)·conj F(t):
    # ⟨u(t+1), ∂x u(t)⟩ = Σ w W sin(2π kx/W) Im(F(t+1) conj F(t)) / HW, and ⟨u(t), ∂x u(t)⟩ = 0
    # Im(F(t+1)·conj F(t)) in real arithmetic (a complex product and .imag would cost two extra copies)
    parts = torch.view_as_real(spectrum)
    re, im = parts[..., 0], parts[..., 1]
    cross_imag = im[:, :, 1:] * re[:, :, :-1] - re[:, :, 1:] * im[:, :, :-1]
    # (2, K) @ (K, rows) runs about twice as fast as (rows, K) @ (K, 2)
    cross = cross_imag.flatten(-2)
    num = (flow_matrix.T @ cross.reshape(-1, cross.shape[-1]).T).T.reshape(*cross.shape[:-1], 2) / HW
    # least squares over the domain: [[⟨uₓuₓ⟩, ⟨uₓu_y⟩], [⟨uₓu_y⟩, ⟨u_yu_y⟩]] v = -[⟨Δu uₓ⟩, ⟨Δu u_y⟩]
    axx = gx2[:, :, :-1] + grad_guard[:, :, :-1]
    ayy = gy2[:, :, :-1] + grad_guard[:, :, :-1]
    axy = gxy[:, :, :-1]
    det = axx * ayy - axy * axy
    flow_x = -(ayy * num[..., 0] - axy * num[..., 1]) / det
    flow_y = -(axx * num[..., 1] - axy * num[..., 0]) / det

    B, M, T, C = d.shape[:4]
    frames = d.reshape(B * M * T, C, H * W)
    channel_cov = (frames @ frames.transpose(-1, -2)).reshape(B, M, T, C, C) / HW
    # consecutive frames of the flat (B·M·T) sequence are uniform-stride views (no copy); the pairs that
    # straddle two trajectories are computed and dropped
    lag = (frames[1:] @ frames[:-1].transpose(-1, -2)) / HW
    lag_cov = torch.cat([lag, lag.new_zeros(1, C, C)]).reshape(B, M, T, C, C)[:, :, :-1]

    fields = {
        "mean": mean,
        "variance": variance,
        "mean_square": mean_square,
        "std": torch.sqrt(v),
        "skewness": m3 / v**1.5,
        "kurtosis": (m4 - 3.0 * variance * variance) / (v * v),
        "minimum": minimum,
        "maximum": maximum,
        "abs_mean": torch.linalg.vector_norm(x, ord=1, dim=(-2, -1)) / HW,
        "gradient_x_energy": gx2,
        "gradient_y_energy": gy2,
        "gradient_energy": energy,
        "gradient_magnitude_mean": magnitude,
        "gradient_anisotropy": (gx2 + 0.5 * grad_guard) / (energy + grad_guard),
        "laplacian_energy": lap2,
        "spectral_centroid": centroid,
        "spectral_bandwidth": torch.sqrt(spread + guard(centroid * centroid + 1.0)),
        "spectral_slope": logE @ slope_weights,
        "spectral_entropy": entropy,
        "dominant_wavenumber": torch.softmax(sharpness * logE, dim=-1) @ shell_k,
        "corr_lag1_x": extra[..., 4],
        "corr_lag1_y": extra[..., 5],
        "corr_eighth": extra[..., 6],
        "integral_length": extra[..., 7],
    }
    return FrameStatistics(
        fields=fields,
        band_fraction=sums[..., S : S + n_bands] / denom[..., None],
        channel_cov=channel_cov,
        lag_channel_cov=lag_cov,
        flow_x=flow_x,
        flow_y=flow_y,
    )


__all__ = [
    "FIELD_STATS",
    "FrameStatistics",
    "check_trajectory",
    "frame_statistics",
    "gradient_field",
    "shared_frame_statistics",
]
