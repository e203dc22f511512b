"""Differentiable statistics of short time series along the last axis ``(..., T)``."""

from __future__ import annotations

import torch

#: absolute guard of dimensionless denominators (log-scale series, correlations)
TINY = 1e-12


def centred_time(T: int, like: torch.Tensor) -> torch.Tensor:
    """``(T,)`` time indices minus their mean, in ``like``'s dtype and device."""
    t = torch.arange(T, dtype=like.dtype, device=like.device)
    return t - t.mean()


def slope(y: torch.Tensor) -> torch.Tensor:
    """Least-squares slope of ``y`` ``(..., T)`` against the index 0..T-1 (T ≥ 2) → ``(...)``."""
    t = centred_time(y.shape[-1], y)
    return (y * t).sum(dim=-1) / (t * t).sum()


def trend_strength(y: torch.Tensor) -> torch.Tensor:
    """Share of the variance of ``y`` ``(..., T)`` explained by a straight line, in [0, 1] (0 when flat)."""
    t = centred_time(y.shape[-1], y)
    yc = y - y.mean(dim=-1, keepdim=True)
    explained = (yc * t).sum(dim=-1) ** 2 / (t * t).sum()
    return explained / ((yc * yc).sum(dim=-1) + TINY)


def population_std(y: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Population standard deviation along ``dim``; the guard keeps its gradient finite for flat series."""
    var = (y - y.mean(dim=dim, keepdim=True)).pow(2).mean(dim=dim)
    return torch.sqrt(var + TINY * TINY)


def regression_slope(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Least-squares slope of ``y`` on ``x`` (both ``(..., T)``); 0 when ``x`` does not vary."""
    xc = x - x.mean(dim=-1, keepdim=True)
    yc = y - y.mean(dim=-1, keepdim=True)
    return (xc * yc).sum(dim=-1) / ((xc * xc).sum(dim=-1) + TINY)


def oscillation_index(y: torch.Tensor) -> torch.Tensor:
    """``Σ|Δ²y| / (2 Σ|Δy|)`` ∈ [0, 1] of ``y`` ``(..., T)`` (T ≥ 3): 0 for a monotone straight run, 1 when
    every step reverses the previous one."""
    d1 = y[..., 1:] - y[..., :-1]
    d2 = d1[..., 1:] - d1[..., :-1]
    return d2.abs().sum(dim=-1) / (2.0 * d1.abs().sum(dim=-1) + TINY)


def irreversibility(y: torch.Tensor) -> torch.Tensor:
    """Time-reversal asymmetry ``⟨Δy³⟩ / ⟨Δy²⟩^{3/2}`` of ``y`` ``(..., T)`` (uncentred increments):
    near 0 for a time-symmetric series, of the sign of the rare large steps otherwise."""
    d = y[..., 1:] - y[..., :-1]
    m2 = (d * d).mean(dim=-1)
    return (d * d * d).mean(dim=-1) / (m2 + TINY) ** 1.5
