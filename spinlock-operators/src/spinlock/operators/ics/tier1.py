"""Tier 1 (foundational) initial conditions: wave packets, Turing patterns, gradients, reaction fronts."""

from __future__ import annotations

import math

import torch

from spinlock.operators.ics.base import GOLDEN_ANGLE, Context, Generator, pick, soft_step
from spinlock.operators.ics.configs import (
    MorphogenGradientConfig,
    QuantumWavePacketConfig,
    ReactionFrontConfig,
    ThermalGradientConfig,
    TuringPatternConfig,
)

Info = dict[str, torch.Tensor]


def ramp(ctx: Context, theta: torch.Tensor) -> torch.Tensor:
    """Coordinate along direction ``theta`` (any leading shape), normalised to [0, 1] over the domain corners."""
    Y, X = ctx.coords()
    c, s = torch.cos(theta)[..., None, None], torch.sin(theta)[..., None, None]
    proj = X * c + Y * s
    x_max, y_max = (ctx.W - 1) / ctx.L, (ctx.H - 1) / ctx.L
    corners = torch.stack([torch.zeros_like(c), x_max * c, y_max * s, x_max * c + y_max * s])
    lo, hi = corners.amin(dim=0), corners.amax(dim=0)
    return ((proj - lo) / (hi - lo).clamp(min=1e-6)).clamp(0.0, 1.0)


class QuantumWavePacket(Generator):
    """Gaussian wave packets; channels Re ψ, Im ψ, |ψ|², current j_x, j_y, then phase-rotated Re ψ."""

    config: QuantumWavePacketConfig

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        cfg = self.config
        P = cfg.num_packets
        u = ctx.uniform(P, 5)  # y, x, |k|, direction, phase
        ext_y, ext_x = ctx.extent
        y0 = (0.25 + 0.5 * u[..., 0]) * ext_y
        x0 = (0.25 + 0.5 * u[..., 1]) * ext_x
        lo, hi = cfg.momentum_range
        kmag = 2 * math.pi * (lo + (hi - lo) * u[..., 2])  # rad per L
        direction = 2 * math.pi * u[..., 3]
        kx, ky = kmag * torch.cos(direction), kmag * torch.sin(direction)
        phase = 2 * math.pi * u[..., 4]
        Y, X = ctx.coords()
        psi = torch.zeros(ctx.B, ctx.H, ctx.W, dtype=torch.complex64, device=ctx.device)
        dpsi_x = torch.zeros_like(psi)
        dpsi_y = torch.zeros_like(psi)
        s2 = cfg.sigma**2
        for p in range(P):
            dx = X - x0[:, p, None, None]
            dy = Y - y0[:, p, None, None]
            env = torch.exp(-(dx**2 + dy**2) / (4 * s2))
            arg = kx[:, p, None, None] * dx + ky[:, p, None, None] * dy + phase[:, p, None, None]
            packet = torch.polar(env, arg)
            psi = psi + packet
            dpsi_x = dpsi_x + packet * torch.complex(-dx / (2 * s2), kx[:, p, None, None].expand_as(dx))
            dpsi_y = dpsi_y + packet * torch.complex(-dy / (2 * s2), ky[:, p, None, None].expand_as(dy))
        density = psi.real**2 + psi.imag**2
        scale = torch.rsqrt(density.amax(dim=(-2, -1), keepdim=True).clamp(min=1e-30))
        psi, dpsi_x, dpsi_y = psi * scale, dpsi_x * scale, dpsi_y * scale
        jx = (psi.conj() * dpsi_x).imag
        jy = (psi.conj() * dpsi_y).imag
        jmax = torch.maximum(
            jx.abs().amax(dim=(-2, -1), keepdim=True), jy.abs().amax(dim=(-2, -1), keepdim=True)
        )
        jx, jy = jx / jmax.clamp(min=1e-30), jy / jmax.clamp(min=1e-30)
        re, im = psi.real, psi.imag
        chans = []
        for c in range(ctx.C):
            if c == 0:
                chans.append(re)
            elif c == 1:
                chans.append(im)
            elif c == 2:
                chans.append(re**2 + im**2)
            elif c == 3:
                chans.append(jx)
            elif c == 4:
                chans.append(jy)
            else:
                theta = c * GOLDEN_ANGLE
                chans.append(re * math.cos(theta) + im * math.sin(theta))
        return torch.stack(chans, dim=1), {"centres": torch.stack([y0, x0], -1), "k": kmag}


TURING_PATTERNS = ("spots", "stripes", "labyrinth")


class TuringPattern(Generator):
    """Cosine superpositions at the critical wavenumber 1/wavelength plus a small GRF perturbation."""

    config: TuringPatternConfig

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        cfg = self.config
        u = ctx.uniform(7)  # pattern, base angle, number of labyrinth directions, 4 labyrinth angles
        shifts = ctx.uniform(ctx.C, 2)  # per-channel translations
        extra = ctx.uniform(ctx.C, 4) * (2 * math.pi)  # labyrinth phases
        perturbation = ctx.grf(ctx.C, cfg.wavelength / 2)
        if cfg.pattern_type == "mixed":
            pattern = pick(u[:, 0], 3)
        else:
            pattern = torch.full((ctx.B,), TURING_PATTERNS.index(cfg.pattern_type), device=ctx.device)
        j = torch.arange(4, device=ctx.device)
        base = 2 * math.pi * u[:, 1:2]
        spot_angles = base + 2 * math.pi * j / 3
        lab_angles = 2 * math.pi * u[:, 3:7]
        lab_count = 2 + pick(u[:, 2], 3)
        is_lab = (pattern == 2)[:, None]
        angles = torch.where(is_lab, lab_angles, spot_angles)  # (B, 4)
        count = torch.where(pattern == 0, 3, torch.where(pattern == 1, 1, lab_count))
        mask = (j[None] < count[:, None]).to(torch.float32)  # (B, 4)
        k = 2 * math.pi / cfg.wavelength
        nx, ny = torch.cos(angles), torch.sin(angles)
        ext_y, ext_x = ctx.extent
        ty, tx = shifts[..., 0] * ext_y, shifts[..., 1] * ext_x  # (B, C)
        phases = -k * (nx[:, None] * tx[..., None] + ny[:, None] * ty[..., None])  # (B, C, 4)
        phases = phases + extra * is_lab[:, :, None].to(torch.float32)
        Y, X = ctx.coords()
        field = torch.zeros(ctx.B, ctx.C, ctx.H, ctx.W, device=ctx.device)
        for d in range(4):
            arg = (
                k * (nx[:, d, None, None, None] * X + ny[:, d, None, None, None] * Y)
                + phases[:, :, d, None, None]
            )
            field = field + mask[:, d, None, None, None] * torch.cos(arg)
        field = field / count[:, None, None, None].to(torch.float32)
        return field + cfg.perturbation_amplitude * perturbation, {"pattern": pattern}


class ThermalGradient(Generator):
    """Temperature ramps T_min + ΔT·g^β along random directions, one per channel, plus GRF fluctuations."""

    config: ThermalGradientConfig

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        cfg = self.config
        u = ctx.uniform(ctx.C)
        fluct = ctx.grf(ctx.C, cfg.fluctuation_length_scale)
        fixed = {"x": 0.0, "y": 0.5 * math.pi, "diagonal": 0.25 * math.pi}
        if cfg.direction == "random":
            theta = 2 * math.pi * u
        else:
            # a fixed axis; the draw picks which way the temperature rises
            theta = fixed[cfg.direction] + math.pi * (u >= 0.5).to(torch.float32)
        g = ramp(ctx, theta)
        t_min, t_max = cfg.temperature_range
        field = t_min + (t_max - t_min) * g**cfg.exponent
        return field + cfg.fluctuation_amplitude * fluct, {"theta": theta}


class MorphogenGradient(Generator):
    """Morphogens from point sources with channel-specific decay lengths, plus GRF noise."""

    config: MorphogenGradientConfig

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        cfg = self.config
        S = cfg.num_sources
        pos = ctx.uniform(S, 2)
        strength = ctx.uniform(S, ctx.C, low=0.5, high=1.0)
        noise = ctx.grf(ctx.C, 0.05)
        ext_y, ext_x = ctx.extent
        sy, sx = pos[..., 0] * ext_y, pos[..., 1] * ext_x
        lam = torch.tensor(
            [cfg.decay_length * cfg.channel_decay_ratio**c for c in range(ctx.C)], device=ctx.device
        )[None, :, None, None]
        Y, X = ctx.coords()
        field = torch.zeros(ctx.B, ctx.C, ctx.H, ctx.W, device=ctx.device)
        for s in range(S):
            r = torch.sqrt((Y - sy[:, s, None, None]) ** 2 + (X - sx[:, s, None, None]) ** 2)[:, None]
            rho = r / lam
            if cfg.profile == "exponential":
                prof = torch.exp(-rho)
            elif cfg.profile == "power_law":
                prof = 1.0 / (1.0 + rho**2)
            else:
                prof = torch.sigmoid(-(rho - 1.0) * 4.0)
            field = field + strength[:, s, :, None, None] * prof
        return field + cfg.noise_amplitude * noise, {
            "sources": torch.stack([sy, sx], -1),
            "strength": strength,
        }


FRONT_SHAPES = ("planar", "circular", "irregular")


class ReactionFront(Generator):
    """½(1 + tanh(d/w)) fronts; channels: product, reactant, reaction zone, trailing species."""

    config: ReactionFrontConfig

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        cfg = self.config
        F = cfg.num_fronts
        u = ctx.uniform(F, 5)  # shape, angle / centre y, offset / centre x, radius, (spare)
        level = ctx.grf(F, 0.2)  # smooth field whose zero set is the irregular front
        ext_y, ext_x = ctx.extent
        Y, X = ctx.coords()
        if cfg.front_shape == "random":
            shape = pick(u[..., 0], 3)
        else:
            shape = torch.full((ctx.B, F), FRONT_SHAPES.index(cfg.front_shape), device=ctx.device)
        # planar: through the domain centre shifted by ±¼ of the extent along the normal
        theta = (2 * math.pi * u[..., 1])[..., None, None]
        offset = ((u[..., 2] - 0.5) * 0.5)[..., None, None]
        planar = (X - ext_x / 2) * torch.cos(theta) + (Y - ext_y / 2) * torch.sin(theta) - offset
        # circular: burnt disk of radius 0.2–0.5 around a centre in the middle half
        cy = ((0.25 + 0.5 * u[..., 1]) * ext_y)[..., None, None]
        cx = ((0.25 + 0.5 * u[..., 2]) * ext_x)[..., None, None]
        radius = (0.2 + 0.3 * u[..., 3])[..., None, None]
        circular = radius - torch.sqrt((Y - cy) ** 2 + (X - cx) ** 2)
        # irregular: first-order signed distance to the zero set of a smooth random field
        gy = (torch.roll(level, -1, dims=-2) - torch.roll(level, 1, dims=-2)) * (ctx.L / 2)
        gx = (torch.roll(level, -1, dims=-1) - torch.roll(level, 1, dims=-1)) * (ctx.L / 2)
        irregular = level / torch.sqrt(gx**2 + gy**2 + 1e-6)
        sel = shape[..., None, None]
        d = torch.where(sel == 0, planar, torch.where(sel == 1, circular, irregular))
        d = d.amax(dim=1)  # union of burnt regions
        w = cfg.front_width
        chans = []
        for c in range(ctx.C):
            if c == 0:
                chans.append(soft_step(d, w))
            elif c == 1:
                chans.append(1.0 - soft_step(d, w))
            elif c == 2:
                v = soft_step(d, w)
                chans.append(4.0 * v * (1.0 - v))
            else:
                chans.append(soft_step(d - 2.0 * (c - 2) * w, w))
        return torch.stack(chans, dim=1), {"shape": shape}
