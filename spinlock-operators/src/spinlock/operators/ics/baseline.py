"""Baseline initial conditions: random fields, simple structures and their mixtures."""

from __future__ import annotations

import math

import torch

from spinlock.operators.ics.base import Context, Generator, gaussian_power, matern_power, pick, sub_seed
from spinlock.operators.ics.configs import (
    CompositeConfig,
    GaussianRandomFieldConfig,
    HeavyTailedConfig,
    LocalizedConfig,
    MixedConfig,
    MultiscaleGRFConfig,
    StructuredConfig,
)

Info = dict[str, torch.Tensor]


def periodic_delta(coord: torch.Tensor, centre: torch.Tensor, period: float) -> torch.Tensor:
    """Minimum-image difference ``coord − centre`` on a circle of length ``period``."""
    d = coord - centre
    return d - period * torch.round(d / period)


class GaussianRandomField(Generator):
    """Stationary Gaussian random field; the length scale is the correlation length (fixes BUG-10)."""

    config: GaussianRandomFieldConfig

    def power(self, ctx: Context) -> torch.Tensor:
        cfg = self.config
        k = ctx.radial_wavenumber()
        if cfg.spectrum == "matern":
            return matern_power(k, cfg.length_scale, cfg.matern_nu)
        return gaussian_power(k, cfg.length_scale)

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        cfg = self.config
        power = self.power(ctx)
        rho = cfg.channel_correlation
        if rho > 0:
            z = ctx.gaussian_field(ctx.C + 1, power, cfg.variance)
            return math.sqrt(rho) * z[:, :1] + math.sqrt(1.0 - rho) * z[:, 1:], {}
        return ctx.gaussian_field(ctx.C, power, cfg.variance), {}


STRUCTURE_KINDS = ("circle", "stripe", "blob")


class Structured(Generator):
    """Disks, stripes and blobs; each structure appears in every channel with its own amplitude."""

    config: StructuredConfig

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        cfg = self.config
        K = cfg.num_structures
        u = ctx.uniform(K, 6)  # kind, y, x, size, angle, phase
        amps = ctx.normal(K, ctx.C) * cfg.amplitude
        allowed = torch.tensor(
            [STRUCTURE_KINDS.index(t) for t in cfg.structure_types], device=ctx.device, dtype=torch.long
        )
        kinds = allowed[pick(u[..., 0], len(allowed))]
        ext_y, ext_x = ctx.extent
        cy, cx = u[..., 1] * ext_y, u[..., 2] * ext_x
        Y, X = ctx.coords()
        r_lo, r_hi = cfg.circle_radius_range
        f_lo, f_hi = cfg.stripe_frequency_range
        b_lo, b_hi = cfg.blob_width_range
        field = torch.zeros(ctx.B, ctx.C, ctx.H, ctx.W, device=ctx.device)
        for k in range(K):
            dy = periodic_delta(Y, cy[:, k, None, None], ext_y)
            dx = periodic_delta(X, cx[:, k, None, None], ext_x)
            r2 = dx**2 + dy**2
            size = u[:, k, 3, None, None]
            radius = r_lo + (r_hi - r_lo) * size
            circle = (r2 < radius**2).to(torch.float32)
            freq = f_lo + (f_hi - f_lo) * size
            theta = 2 * math.pi * u[:, k, 4, None, None]
            stripe = torch.sin(
                2 * math.pi * freq * (X * torch.cos(theta) + Y * torch.sin(theta))
                + 2 * math.pi * u[:, k, 5, None, None]
            )
            width = b_lo + (b_hi - b_lo) * size
            blob = torch.exp(-r2 / (2 * width**2))
            kind = kinds[:, k, None, None]
            shape = torch.where(kind == 0, circle, torch.where(kind == 1, stripe, blob))
            field = field + amps[:, k, :, None, None] * shape[:, None]
        return field, {"kinds": kinds, "centres": torch.stack([cy, cx], -1), "size": u[..., 3]}


class Mixed(Generator):
    """Per sample (from its own seed), a GRF with probability ``grf_probability``, else a structured field."""

    config: MixedConfig

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        cfg = self.config
        is_grf = ctx.uniform(1)[:, 0] < cfg.grf_probability
        out = torch.empty(ctx.B, ctx.C, ctx.H, ctx.W, device=ctx.device)
        for flag, gen, tag in (
            (True, GaussianRandomField(cfg.grf), "mixed/grf"),
            (False, Structured(cfg.structured), "mixed/structured"),
        ):
            rows = [i for i in range(ctx.B) if bool(is_grf[i]) == flag]
            if rows:
                seeds = [sub_seed(ctx.seeds[i], tag) for i in rows]
                out[rows] = gen(seeds, channels=ctx.C, height=ctx.H, width=ctx.W, device=ctx.device)
        return out, {"is_grf": is_grf}


class MultiscaleGRF(Generator):
    """Sum of independent GRFs at several correlation lengths (one FFT: the spectra add)."""

    config: MultiscaleGRFConfig

    def power(self, ctx: Context) -> torch.Tensor:
        cfg = self.config
        weights = cfg.weights or (1.0,) * len(cfg.scales)
        total_weight = sum(weights)
        k = ctx.radial_wavenumber()
        power = torch.zeros_like(k)
        for scale, weight in zip(cfg.scales, weights, strict=True):
            p = gaussian_power(k, scale)
            p[0, 0] = 0.0
            norm = (p * ctx.rfft_weights()).sum()
            power = power + (weight / total_weight) * p / norm
        return power

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        return ctx.gaussian_field(ctx.C, self.power(ctx), self.config.variance), {}


class Localized(Generator):
    """Gaussian blobs at uniform positions (periodic distance), per-channel normal amplitudes."""

    config: LocalizedConfig

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        cfg = self.config
        K = cfg.num_blobs
        u = ctx.uniform(K, 3)
        amps = ctx.normal(K, ctx.C) * cfg.amplitude
        ext_y, ext_x = ctx.extent
        cy, cx = u[..., 0] * ext_y, u[..., 1] * ext_x
        lo, hi = cfg.width_range
        sigma = lo + (hi - lo) * u[..., 2]
        Y, X = ctx.coords()
        field = torch.zeros(ctx.B, ctx.C, ctx.H, ctx.W, device=ctx.device)
        for k in range(K):
            dy = periodic_delta(Y, cy[:, k, None, None], ext_y)
            dx = periodic_delta(X, cx[:, k, None, None], ext_x)
            blob = torch.exp(-(dx**2 + dy**2) / (2 * sigma[:, k, None, None] ** 2))
            field = field + amps[:, k, :, None, None] * blob[:, None]
        return field, {"centres": torch.stack([cy, cx], -1), "sigma": sigma, "amplitudes": amps}


COMPOSITE_PATTERNS = ("waves", "grid", "radial")


class Composite(Generator):
    """A pattern (waves, grid or radial) with per-channel phases, plus GRF noise of std ``noise_level``."""

    config: CompositeConfig

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        cfg = self.config
        u = ctx.uniform(5)  # pattern, frequency, angle, centre y, centre x
        phases = ctx.uniform(ctx.C, 2) * (2 * math.pi)
        noise = ctx.grf(ctx.C, cfg.noise_length_scale)
        if cfg.pattern == "random":
            pattern = pick(u[:, 0], 3)
        else:
            pattern = torch.full((ctx.B,), COMPOSITE_PATTERNS.index(cfg.pattern), device=ctx.device)
        lo, hi = cfg.frequency_range
        freq = (lo + (hi - lo) * u[:, 1])[:, None, None, None]
        theta = (2 * math.pi * u[:, 2])[:, None, None, None]
        Y, X = ctx.coords()
        xr = X * torch.cos(theta) + Y * torch.sin(theta)
        yr = -X * torch.sin(theta) + Y * torch.cos(theta)
        p0 = phases[:, :, 0, None, None]
        p1 = phases[:, :, 1, None, None]
        waves = torch.sin(2 * math.pi * freq * xr + p0)
        grid = torch.sin(2 * math.pi * freq * xr + p0) * torch.sin(2 * math.pi * freq * yr + p1)
        ext_y, ext_x = ctx.extent
        r = torch.sqrt(
            (Y - (u[:, 3] * ext_y)[:, None, None, None]) ** 2
            + (X - (u[:, 4] * ext_x)[:, None, None, None]) ** 2
        )
        radial = torch.sin(2 * math.pi * freq * r + p0)
        sel = pattern[:, None, None, None]
        field = torch.where(sel == 0, waves, torch.where(sel == 1, grid, radial))
        return field + cfg.noise_level * noise, {"pattern": pattern, "frequency": freq[:, 0, 0, 0]}


class HeavyTailed(Generator):
    """Gaussian field with a power-law spectrum k^−α between k_min and k_max; no power at k = 0."""

    config: HeavyTailedConfig

    def power(self, ctx: Context) -> torch.Tensor:
        cfg = self.config
        k = ctx.radial_wavenumber()
        k_max = cfg.k_max or ctx.L / 2.0
        band = (k >= cfg.k_min) & (k <= k_max)
        return torch.where(band, k.clamp(min=1e-12) ** (-cfg.alpha), torch.zeros_like(k))

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        return ctx.gaussian_field(ctx.C, self.power(ctx), self.config.variance), {}
