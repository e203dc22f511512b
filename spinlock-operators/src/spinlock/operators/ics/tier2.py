"""Tier 2 (specialized) initial conditions: light cones, critical fluctuations, interfaces, BZ waves,
entropy-structured noise."""

from __future__ import annotations

import math

import torch

from spinlock.operators.ics.base import GOLDEN_ANGLE, Context, Generator, pick
from spinlock.operators.ics.baseline import periodic_delta
from spinlock.operators.ics.configs import (
    BZReactionConfig,
    CriticalFluctuationConfig,
    LightConeConfig,
    PhaseBoundaryConfig,
    ShannonEntropyConfig,
)
from spinlock.operators.ics.tier1 import ramp

Info = dict[str, torch.Tensor]


class LightCone(Generator):
    """GRF fluctuations inside causal disks: sigmoid((R − r)/s) · GRF (independent per channel)."""

    config: LightConeConfig

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        cfg = self.config
        K = cfg.num_cones
        pos = ctx.uniform(K, 2)
        fluct = ctx.grf(ctx.C, cfg.field_length_scale)
        ext_y, ext_x = ctx.extent
        cy, cx = pos[..., 0] * ext_y, pos[..., 1] * ext_x
        Y, X = ctx.coords()
        mask = torch.zeros(ctx.B, ctx.H, ctx.W, device=ctx.device)
        for k in range(K):
            dy = periodic_delta(Y, cy[:, k, None, None], ext_y)
            dx = periodic_delta(X, cx[:, k, None, None], ext_x)
            r = torch.sqrt(dx**2 + dy**2)
            mask = torch.maximum(mask, torch.sigmoid((cfg.cone_radius - r) / cfg.smoothing))
        return mask[:, None] * fluct, {"centres": torch.stack([cy, cx], -1), "mask": mask}


class CriticalFluctuation(Generator):
    """Gaussian field with the Ornstein–Zernike spectrum (q² + ξ⁻²)^−(2−η)/2, q = 2πk."""

    config: CriticalFluctuationConfig

    def power(self, ctx: Context) -> torch.Tensor:
        cfg = self.config
        q = 2 * math.pi * ctx.radial_wavenumber()
        return (q**2 + cfg.correlation_length**-2) ** (-(2.0 - cfg.eta) / 2.0)

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        return ctx.gaussian_field(ctx.C, self.power(ctx), self.config.variance), {}


class PhaseBoundary(Generator):
    """tanh(d/(√2·w)) interfaces (one per channel) plus GRF fluctuations."""

    config: PhaseBoundaryConfig

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        cfg = self.config
        u = ctx.uniform(ctx.C, 3)
        fluct = ctx.grf(ctx.C, cfg.fluctuation_length_scale)
        ext_y, ext_x = ctx.extent
        Y, X = ctx.coords()
        a, b, c = (u[..., i, None, None] for i in range(3))
        if cfg.boundary_shape == "planar":
            theta = 2 * math.pi * a
            offset = (b - 0.5) * 0.5
            d = (X - ext_x / 2) * torch.cos(theta) + (Y - ext_y / 2) * torch.sin(theta) - offset
        else:
            radius = 0.15 + 0.25 * c
            cy, cx = (0.3 + 0.4 * a) * ext_y, (0.3 + 0.4 * b) * ext_x
            d = radius - torch.sqrt((Y - cy) ** 2 + (X - cx) ** 2)
        phi = torch.tanh(d / (math.sqrt(2.0) * cfg.interface_width))
        return phi + cfg.fluctuation_amplitude * fluct, {}


BZ_PATTERNS = ("spiral", "target", "turbulent")


class BZReaction(Generator):
    """Spiral / target / turbulent phase fields φ; channel c = A·cos(φ − c·golden angle)."""

    config: BZReactionConfig

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        cfg = self.config
        S = cfg.num_spirals
        u0 = ctx.uniform(2)  # pattern, global phase
        u = ctx.uniform(S, 3)  # centre y, centre x, chirality
        if cfg.pattern_type == "random":
            pattern = pick(u0[:, 0], 3)
        else:
            pattern = torch.full((ctx.B,), BZ_PATTERNS.index(cfg.pattern_type), device=ctx.device)
        ext_y, ext_x = ctx.extent
        cy = ((0.15 + 0.7 * u[..., 0]) * ext_y)[..., None, None]
        cx = ((0.15 + 0.7 * u[..., 1]) * ext_x)[..., None, None]
        chir = torch.where(u[..., 2] < 0.5, -1.0, 1.0)[..., None, None]
        Y, X = ctx.coords()
        lam = cfg.wavelength
        r = torch.sqrt((Y - cy) ** 2 + (X - cx) ** 2)  # (B, S, H, W)
        angle = torch.atan2(Y - cy, X - cx)
        spiral_phase = chir * angle - 2 * math.pi * r / lam
        damp = torch.tanh(r / lam)
        single = spiral_phase[:, 0]
        target = 2 * math.pi * r[:, 0] / lam
        turbulent = spiral_phase.sum(dim=1)
        sel = pattern[:, None, None]
        phase = torch.where(sel == 0, single, torch.where(sel == 1, target, turbulent))
        phase = phase + 2 * math.pi * u0[:, 1, None, None]
        amp = torch.where(
            sel == 0, damp[:, 0], torch.where(sel == 1, torch.ones_like(damp[:, 0]), damp.prod(dim=1))
        )
        offsets = torch.arange(ctx.C, device=ctx.device, dtype=torch.float32) * GOLDEN_ANGLE
        field = amp[:, None] * torch.cos(phase[:, None] - offsets[None, :, None, None])
        return field, {"pattern": pattern, "centres": torch.cat([cy, cx], -1)[..., 0]}


class ShannonEntropy(Generator):
    """Noise with local std exp(H(x))/√(2πe) (local differential entropy H(x)) over a smooth background."""

    config: ShannonEntropyConfig

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        cfg = self.config
        theta = 2 * math.pi * ctx.uniform(1)[:, 0]
        map_field = ctx.grf(1, cfg.map_length_scale)[:, 0]
        eps = ctx.normal(ctx.C, ctx.H, ctx.W)
        base = ctx.grf(ctx.C, cfg.base_length_scale)
        h_min, h_max = cfg.entropy_range
        if cfg.entropy_map == "gradient":
            level = ramp(ctx, theta)
        elif cfg.entropy_map == "patchy":
            level = (map_field > 0).to(torch.float32)
        else:
            level = 0.5 * (1.0 + torch.erf(map_field / math.sqrt(2.0)))
        entropy = h_min + (h_max - h_min) * level  # nats, (B, H, W)
        sigma = torch.exp(entropy) / math.sqrt(2 * math.pi * math.e)
        return cfg.base_amplitude * base + sigma[:, None] * eps, {"entropy": entropy}
