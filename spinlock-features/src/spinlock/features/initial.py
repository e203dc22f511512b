"""INITIAL family: interpretable statistics of the initial condition u0, computed per channel.

Every statistic is computed from one sample's one channel alone (no batch statistics, BUG-13) and channels are
never averaged or squeezed away (BUG-17): a column ``<stat>_c<k>`` describes channel ``k``. D depends on the
number of channels C only. Columns, by category (per channel unless noted):

spatial
    ``mean``, ``std`` (population), ``skew``, ``kurtosis`` (excess; both 0 for a constant channel), ``min``,
    ``max``, ``p05``/``p50``/``p95`` (linear-interpolated quantiles), ``grad_energy`` = mean |∇u|² with
    periodic forward differences in domain units (grid spacing 1/W and 1/H), ``autocorr_lag1`` = mean of the
    periodic lag-1 autocorrelations along x and y (0 for a constant channel).
spectral
    From the power |FFT(u − mean)|² binned into integer radial shells k = 1 … K, K = min(H, W) // 2, with k
    in cycles per domain (corners beyond K are ignored). ``spectral_slope``: least-squares slope of
    log10 of the shell-averaged power against log10 k. ``spectral_centroid``: power-weighted mean k (shell
    sums), in cycles per domain. ``power_low``/``power_mid``/``power_high``: fraction of the shell power in
    k ≤ K/4, K/4 < k ≤ K/2 and k > K/2 — cut-offs and frequencies both in cycles per domain (BUG-14).
    ``spectral_entropy``: Shannon entropy of the normalised shell power / log(K), in [0, 1]. A constant
    channel has no power: all spectral columns are 0.
information
    ``hist_entropy``: Shannon entropy of a ``histogram_bins``-bin histogram over the sample's own robust range
    [q, 1 − q] quantiles (values outside fall in the edge bins), / log(bins), in [0, 1]; 0 when constant.
morphological
    ``frac_above_mean``: fraction of pixels strictly above the channel mean. ``n_components``: number of
    4-connected (non-periodic) components of that set. ``largest_component_frac``: area of the largest
    component / area of the set (0 when the set is empty).
cross_channel (only when C > 1: with one channel there is no pair to correlate, so the columns are omitted)
    ``xc_mean_abs_corr`` and ``xc_max_abs_corr``: mean and max |Pearson correlation| over channel pairs.
"""

from __future__ import annotations

import math

import torch

from spinlock.core.features.family import FeatureColumns, FeatureInputs
from spinlock.features.configs import InitialConfig
from spinlock.features.plugin import INITIAL_VERSION
from spinlock.features.quantiles import quantiles

SPATIAL = (
    "mean",
    "std",
    "skew",
    "kurtosis",
    "min",
    "max",
    "p05",
    "p50",
    "p95",
    "grad_energy",
    "autocorr_lag1",
)
SPECTRAL = ("spectral_slope", "spectral_centroid", "power_low", "power_mid", "power_high", "spectral_entropy")
INFORMATION = ("hist_entropy",)
MORPHOLOGICAL = ("frac_above_mean", "n_components", "largest_component_frac")
CROSS_CHANNEL = ("xc_mean_abs_corr", "xc_max_abs_corr")

PER_CHANNEL: dict[str, tuple[str, ...]] = {
    "spatial": SPATIAL,
    "spectral": SPECTRAL,
    "information": INFORMATION,
    "morphological": MORPHOLOGICAL,
}


def _check_ic(inputs: FeatureInputs) -> torch.Tensor:
    u0 = inputs.initial_condition
    if u0 is None:
        raise ValueError("the INITIAL family needs initial_condition, got None")
    if not isinstance(u0, torch.Tensor):
        raise ValueError(f"initial_condition must be a torch.Tensor, got {type(u0).__name__}")
    if u0.ndim != 4:
        raise ValueError(
            f"initial_condition must be (batch, channels, height, width), got ndim {u0.ndim} "
            f"(shape {tuple(u0.shape)})"
        )
    if u0.shape[1] < 1 or u0.shape[2] < 2 or u0.shape[3] < 2:
        raise ValueError(f"initial_condition needs C ≥ 1 and H, W ≥ 2, got shape {tuple(u0.shape)}")
    return u0


def _spatial(u: torch.Tensor) -> list[torch.Tensor]:
    b, c, h, w = u.shape
    flat = u.reshape(b, c, h * w)
    mean = flat.mean(-1)
    dev = flat - mean[..., None]
    var = (dev**2).mean(-1)
    std = var.sqrt()
    ok = var > 0
    safe = torch.where(ok, var, torch.ones_like(var))
    skew = torch.where(ok, (dev**3).mean(-1) / safe**1.5, torch.zeros_like(var))
    kurt = torch.where(ok, (dev**4).mean(-1) / safe**2 - 3.0, torch.zeros_like(var))
    p05, p50, p95 = quantiles(flat, (0.05, 0.5, 0.95))
    gx = (torch.roll(u, -1, dims=-1) - u) * w
    gy = (torch.roll(u, -1, dims=-2) - u) * h
    grad_energy = (gx**2 + gy**2).mean(dim=(-2, -1))
    d = u - mean[..., None, None]
    lag_x = (d * torch.roll(d, -1, dims=-1)).mean(dim=(-2, -1))
    lag_y = (d * torch.roll(d, -1, dims=-2)).mean(dim=(-2, -1))
    autocorr = torch.where(ok, 0.5 * (lag_x + lag_y) / safe, torch.zeros_like(var))
    return [mean, std, skew, kurt, flat.amin(-1), flat.amax(-1), p05, p50, p95, grad_energy, autocorr]


def _spectral(u: torch.Tensor) -> list[torch.Tensor]:
    b, c, h, w = u.shape
    kmax = min(h, w) // 2
    d = u - u.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(d).abs() ** 2  # (b, c, h, w)
    ky = torch.fft.fftfreq(h, d=1.0 / h, dtype=u.dtype, device=u.device)  # cycles per domain
    kx = torch.fft.fftfreq(w, d=1.0 / w, dtype=u.dtype, device=u.device)
    k = torch.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)
    shell = torch.round(k).long().reshape(-1)
    keep = (shell >= 1) & (shell <= kmax)
    index = torch.where(keep, shell - 1, torch.full_like(shell, kmax))  # kmax = discard bin
    flat = power.reshape(b * c, h * w)
    sums = torch.zeros(b * c, kmax + 1, dtype=u.dtype, device=u.device)
    sums.index_add_(1, index, flat)
    sums = sums[:, :kmax]
    counts = torch.zeros(kmax + 1, dtype=u.dtype, device=u.device).index_add_(
        0, index, torch.ones_like(index, dtype=u.dtype)
    )[:kmax]
    ks = torch.arange(1, kmax + 1, dtype=u.dtype, device=u.device)
    total = sums.sum(-1)
    has_power = total > 0
    safe_total = torch.where(has_power, total, torch.ones_like(total))
    p = sums / safe_total[:, None]
    zero = torch.zeros_like(total)

    # slope of log10(shell-mean power) against log10 k; the floor is relative to the sample's own power
    avg = sums / counts.clamp(min=1.0)
    floor = 1e-12 * avg.amax(-1, keepdim=True).clamp(min=torch.finfo(u.dtype).tiny)
    log_p = torch.log10(avg + floor)
    log_k = torch.log10(ks)
    xk = log_k - log_k.mean()
    denom = (xk**2).sum()
    slope = ((log_p - log_p.mean(-1, keepdim=True)) * xk).sum(-1) / denom if kmax > 1 else zero
    slope = torch.where(has_power, slope, zero)

    centroid = torch.where(has_power, (p * ks).sum(-1), zero)
    low = torch.where(has_power, (p * (ks <= kmax / 4)).sum(-1), zero)
    mid = torch.where(has_power, (p * ((ks > kmax / 4) & (ks <= kmax / 2))).sum(-1), zero)
    high = torch.where(has_power, (p * (ks > kmax / 2)).sum(-1), zero)
    plogp = torch.where(p > 0, p * torch.log(p.clamp(min=torch.finfo(u.dtype).tiny)), torch.zeros_like(p))
    entropy = -plogp.sum(-1) / math.log(kmax) if kmax > 1 else zero
    entropy = torch.where(has_power, entropy, zero)
    return [t.reshape(b, c) for t in (slope, centroid, low, mid, high, entropy)]


def _information(u: torch.Tensor, bins: int, q: float) -> list[torch.Tensor]:
    b, c, h, w = u.shape
    flat = u.reshape(b * c, h * w)
    lo, hi = quantiles(flat, (q, 1.0 - q))
    span = hi - lo
    ok = span > 0
    safe = torch.where(ok, span, torch.ones_like(span))
    idx = torch.floor((flat - lo[:, None]) / safe[:, None] * bins).clamp(0, bins - 1).long()
    counts = torch.zeros(b * c, bins, dtype=u.dtype, device=u.device)
    counts.scatter_add_(1, idx, torch.ones_like(flat))
    p = counts / (h * w)
    plogp = torch.where(p > 0, p * torch.log(p.clamp(min=torch.finfo(u.dtype).tiny)), torch.zeros_like(p))
    entropy = torch.where(ok, -plogp.sum(-1) / math.log(bins), torch.zeros_like(span))
    return [entropy.reshape(b, c)]


def label_components(mask: torch.Tensor) -> torch.Tensor:
    """4-connected component labels of a boolean ``(N, H, W)`` mask (non-periodic).

    Each foreground pixel ends with the flat index of the smallest-index pixel of its component; background
    pixels get -1. Every sweep gives each horizontal and each vertical run of foreground pixels the minimum
    label of the run (a segment reduction), then jumps pointers (a pixel adopts the label of the pixel its
    label names), so a component converges in a few sweeps whatever its extent.
    """
    n, h, w = mask.shape
    big = h * w
    index = torch.arange(h * w, device=mask.device).reshape(1, h, w).expand(n, h, w)
    labels = torch.where(mask, index, torch.full_like(index, big)).contiguous()
    row_runs = _run_ids(mask)
    col_runs = _run_ids(mask.transpose(1, 2)).transpose(1, 2)
    flat_mask = mask.reshape(n, -1)
    while True:
        new = labels.reshape(n, -1)
        for runs in (row_runs, col_runs):
            ids = runs.reshape(n, -1)
            run_min = torch.full((n, h * w + 1), big, dtype=new.dtype, device=new.device)
            run_min.scatter_reduce_(1, ids, new, reduce="amin")
            new = torch.where(flat_mask, torch.gather(run_min, 1, ids), new)
        jumped = torch.gather(new, 1, new.clamp(max=big - 1))
        new = torch.where(flat_mask, torch.minimum(new, jumped), new).reshape(n, h, w)
        if torch.equal(new, labels):
            break
        labels = new
    return torch.where(mask, labels, torch.full_like(labels, -1))


def component_counts(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Number of 4-connected components and size of the largest one, per field of a boolean ``(N, H, W)``.

    CPU masks go through ``scipy.ndimage.label`` in one call (fields stacked along an axis that the
    structuring element does not connect): about 15× faster than the torch propagation, which serves other
    devices. Both give the same partition (tested).
    """
    n = mask.shape[0]
    if mask.device.type != "cpu":
        labels = label_components(mask).reshape(n, -1)
        index = torch.arange(labels.shape[1], device=mask.device)
        sizes = torch.zeros(labels.shape, dtype=torch.long, device=mask.device)
        sizes.scatter_add_(1, labels.clamp(min=0), mask.reshape(n, -1).long())
        return (labels == index).sum(-1), sizes.amax(-1)
    import numpy as np
    from scipy import ndimage

    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = ndimage.generate_binary_structure(2, 1)
    ids, total = ndimage.label(mask.numpy(), structure=structure)
    flat = ids.reshape(n, -1)
    # ids are numbered in scan order, so field i owns the contiguous id range [low_i, high_i]
    high = flat.max(axis=1)
    nonempty = high > 0
    low = np.where(flat > 0, flat, total + 1).min(axis=1)
    counts = np.where(nonempty, high - low + 1, 0)
    component_sizes = np.bincount(ids.ravel(), minlength=total + 1)
    largest = np.zeros(n, dtype=np.int64)
    if total:
        largest[nonempty] = np.maximum.reduceat(component_sizes, low[nonempty])
    return torch.from_numpy(counts.astype(np.int64)), torch.from_numpy(largest)


def _run_ids(mask: torch.Tensor) -> torch.Tensor:
    """Per pixel of ``(N, H, W)``, an id ≥ 1 of its horizontal run of foreground pixels (0 for background);
    ids are unique within a field and below H·W + 1."""
    n, h, w = mask.shape
    starts = mask.clone()
    starts[:, :, 1:] &= ~mask[:, :, :-1]
    ids = starts.reshape(n, -1).cumsum(dim=1).reshape(n, h, w)
    return torch.where(mask, ids, torch.zeros_like(ids))


def _morphological(u: torch.Tensor) -> list[torch.Tensor]:
    b, c, h, w = u.shape
    mask = (u > u.mean(dim=(-2, -1), keepdim=True)).reshape(b * c, h, w)
    area = mask.reshape(b * c, -1).sum(-1).to(u.dtype)
    frac = area / (h * w)
    n_components, largest_size = component_counts(mask)
    n_components, largest_size = n_components.to(u.dtype), largest_size.to(u.dtype)
    largest = torch.where(area > 0, largest_size / area.clamp(min=1.0), torch.zeros_like(area))
    return [t.reshape(b, c) for t in (frac, n_components, largest)]


def _cross_channel(u: torch.Tensor) -> list[torch.Tensor]:
    b, c, h, w = u.shape
    d = u.reshape(b, c, h * w)
    d = d - d.mean(-1, keepdim=True)
    norm = d.norm(dim=-1)  # (b, c)
    ok = norm > 0
    unit = d / torch.where(ok, norm, torch.ones_like(norm))[..., None]
    corr = (unit @ unit.transpose(1, 2)).abs()  # (b, c, c); a constant channel correlates 0 with all
    iu = torch.triu_indices(c, c, offset=1, device=u.device)
    pairs = corr[:, iu[0], iu[1]]
    return [pairs.mean(-1), pairs.amax(-1)]


class InitialFamily:
    """The INITIAL feature family (see the module docstring for every column)."""

    name = "initial"
    version = INITIAL_VERSION
    inputs = frozenset({"initial_condition"})

    def __init__(self, config: InitialConfig | None = None) -> None:
        self.config = config if config is not None else InitialConfig()

    def _categories(self, channels: int) -> list[str]:
        cats = [c for c in self.config.categories if c in PER_CHANNEL]
        if "cross_channel" in self.config.categories and channels > 1:
            cats.append("cross_channel")
        return cats

    def columns(self, inputs: FeatureInputs) -> FeatureColumns:
        channels = int(_check_ic(inputs).shape[1])
        names: list[str] = []
        categories: list[str] = []
        for cat in self._categories(channels):
            if cat == "cross_channel":
                names.extend(CROSS_CHANNEL)
                categories.extend([cat] * len(CROSS_CHANNEL))
                continue
            for stat in PER_CHANNEL[cat]:
                for k in range(channels):
                    names.append(f"{stat}_c{k}")
                    categories.append(cat)
        return FeatureColumns(names, categories)

    def compute(self, inputs: FeatureInputs) -> torch.Tensor:
        u0 = _check_ic(inputs)
        if not torch.is_floating_point(u0):
            raise ValueError(f"initial_condition must be floating point, got {u0.dtype}")
        if not bool(torch.isfinite(u0).all()):
            raise ValueError("initial_condition has non-finite values")
        u = u0.detach().to(torch.float64)
        b, channels = u.shape[:2]
        blocks: list[torch.Tensor] = []
        for cat in self._categories(channels):
            if cat == "spatial":
                parts = _spatial(u)
            elif cat == "spectral":
                parts = _spectral(u)
            elif cat == "information":
                parts = _information(u, self.config.histogram_bins, self.config.robust_quantile)
            elif cat == "morphological":
                parts = _morphological(u)
            else:
                blocks.append(torch.stack(_cross_channel(u), dim=-1))
                continue
            # (b, stats, c) → stat-major, channel-minor, matching columns()
            blocks.append(torch.stack(parts, dim=1).reshape(b, -1))
        return torch.cat(blocks, dim=-1).to(torch.float32)


__all__ = ["InitialFamily", "label_components", "quantiles"]
