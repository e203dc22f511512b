"""Tier 3 (complex systems) initial conditions: interference, cells, chromatin, shocks, gene expression."""

from __future__ import annotations

import math

import torch

from spinlock.operators.ics.base import Context, Generator, pick, soft_step
from spinlock.operators.ics.configs import (
    CellPopulationConfig,
    ChromatinDomainConfig,
    GeneExpressionConfig,
    InterferencePatternConfig,
    ShockFrontConfig,
)
from spinlock.operators.ics.tier1 import ramp

Info = dict[str, torch.Tensor]


def _scale_to_unit_max(field: torch.Tensor) -> torch.Tensor:
    """Divide each ``(b, c)`` plane by its max |·| (max is exact, so this is batch independent)."""
    return field / field.abs().amax(dim=(-2, -1), keepdim=True).clamp(min=1e-30)


class InterferencePattern(Generator):
    """Circular waves from point sources with a coherence envelope; per-channel source phases."""

    config: InterferencePatternConfig

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        cfg = self.config
        S = cfg.num_sources
        pos = ctx.uniform(S, 2)
        phases = ctx.uniform(ctx.C, S) * (2 * math.pi)
        ext_y, ext_x = ctx.extent
        sy, sx = (0.1 + 0.8 * pos[..., 0]) * ext_y, (0.1 + 0.8 * pos[..., 1]) * ext_x
        Y, X = ctx.coords()
        field = torch.zeros(ctx.B, ctx.C, ctx.H, ctx.W, device=ctx.device)
        k = 2 * math.pi / cfg.wavelength
        for s in range(S):
            r = torch.sqrt((Y - sy[:, s, None, None]) ** 2 + (X - sx[:, s, None, None]) ** 2)[:, None]
            env = torch.exp(-(r**2) / (2 * cfg.coherence_length**2))
            field = field + torch.cos(k * r + phases[:, :, s, None, None]) * env
        return _scale_to_unit_max(field), {"sources": torch.stack([sy, sx], -1)}


def _sequential_adsorption(
    cy: torch.Tensor, cx: torch.Tensor, min_distance: float, extent: tuple[float, float]
) -> torch.Tensor:
    """Greedy hard-core thinning in candidate order, computed in parallel rounds.

    Candidate i is kept iff no kept candidate j < i is closer than ``min_distance`` (periodic distance), the
    result of random sequential adsorption. Each round rejects candidates that clash with a kept one and keeps
    every undecided candidate with no undecided earlier neighbour; the earliest undecided candidate is always
    kept, so the loop ends, and a candidate is kept exactly when all its earlier neighbours were rejected.
    """
    b, m = cy.shape
    dy = cy[:, :, None] - cy[:, None, :]
    dy = dy - extent[0] * torch.round(dy / extent[0])
    dx = cx[:, :, None] - cx[:, None, :]
    dx = dx - extent[1] * torch.round(dx / extent[1])
    eye = torch.eye(m, dtype=torch.bool, device=cy.device)
    clash = (((dy**2 + dx**2) < min_distance**2) & ~eye).to(torch.float32)
    earlier = clash * torch.ones(m, m, device=cy.device).tril(-1)
    accepted = torch.zeros(b, m, 1, device=cy.device)
    rejected = torch.zeros_like(accepted)
    while True:
        undecided = (1.0 - accepted) * (1.0 - rejected)
        if not bool(undecided.any()):
            return accepted[..., 0] > 0
        # neighbour counts as 0/1 matrix products: small exact integers whatever the summation order
        rejected = torch.maximum(rejected, undecided * (torch.bmm(clash, accepted) > 0).to(torch.float32))
        undecided = (1.0 - accepted) * (1.0 - rejected)
        accepted = torch.maximum(accepted, undecided * (torch.bmm(earlier, undecided) == 0).to(torch.float32))


class CellPopulation(Generator):
    """Hard-core cells by random sequential adsorption; channels: bodies, density, marker levels."""

    config: CellPopulationConfig

    #: spread (σ, fraction of L) of candidates around cluster centres
    cluster_spread = 0.1

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        cfg = self.config
        N = cfg.num_cells
        M = 5 * N
        n_clusters = max(1, N // 10)
        centres = ctx.uniform(n_clusters, 2)
        u = ctx.uniform(M, 4)  # clustered?, cluster index, uniform y, uniform x
        offsets = ctx.normal(M, 2) * self.cluster_spread
        levels = ctx.uniform(N, max(ctx.C - 2, 0)) if ctx.C > 2 else None
        ext_y, ext_x = ctx.extent
        which = pick(u[..., 1], n_clusters)
        cc = torch.gather(centres, 1, which[..., None].expand(-1, -1, 2))
        clustered = (u[..., 0] < cfg.clustering)[..., None]
        unit = torch.where(
            clustered, cc + offsets / torch.tensor([ext_y, ext_x], device=ctx.device), u[..., 2:4]
        )
        cy, cx = torch.remainder(unit[..., 0], 1.0) * ext_y, torch.remainder(unit[..., 1], 1.0) * ext_x
        accepted = torch.cat(
            [
                _sequential_adsorption(cy[i : i + 16], cx[i : i + 16], 2 * cfg.cell_radius, (ext_y, ext_x))
                for i in range(0, ctx.B, 16)
            ]
        )
        count = accepted.sum(dim=1).clamp(max=N)
        key = (~accepted).long() * M + torch.arange(M, device=ctx.device)
        order = torch.sort(key, dim=1, stable=True).indices[:, :N]
        py, px = torch.gather(cy, 1, order), torch.gather(cx, 1, order)
        valid = (torch.arange(N, device=ctx.device)[None] < count[:, None]).to(torch.float32)
        # render each cell on a small periodic patch around its centre and scatter-add into the grid
        radius_px = cfg.cell_radius * ctx.L
        half = math.ceil(radius_px + 1.5)
        offs = torch.arange(-half, half + 1, device=ctx.device)
        iy = torch.floor(py * ctx.L)[..., None, None] + offs[:, None]  # (B, N, P, 1)
        ix = torch.floor(px * ctx.L)[..., None, None] + offs[None, :]  # (B, N, 1, P)
        dist = torch.sqrt((iy - py[..., None, None] * ctx.L) ** 2 + (ix - px[..., None, None] * ctx.L) ** 2)
        # anti-aliased disk: pixel coverage falls from 1 to 0 across one pixel at the rim
        disk = (radius_px + 0.5 - dist).clamp(0.0, 1.0) * valid[..., None, None]  # (B, N, P, P)
        flat = (torch.remainder(iy, ctx.H) * ctx.W + torch.remainder(ix, ctx.W)).long().flatten(1)
        disk = disk.flatten(1)
        bodies = torch.zeros(ctx.B, ctx.H * ctx.W, device=ctx.device).scatter_add_(1, flat, disk)
        bodies = bodies.reshape(ctx.B, ctx.H, ctx.W)
        n_markers = max(ctx.C - 2, 0)
        markers = torch.zeros(ctx.B, n_markers, ctx.H * ctx.W, device=ctx.device)
        if levels is not None:
            patch = offs.numel() ** 2
            values = levels.transpose(1, 2)[..., None] * disk.reshape(ctx.B, 1, N, patch)
            markers.scatter_add_(2, flat[:, None].expand(-1, n_markers, -1), values.flatten(2))
        markers = markers.reshape(ctx.B, n_markers, ctx.H, ctx.W)
        chans = [bodies]
        if ctx.C > 1:
            chans.append(_scale_to_unit_max(ctx.smooth(bodies, cfg.density_length)))
        out = torch.cat([torch.stack(chans, dim=1), markers], dim=1)
        return out, {"centres": torch.stack([py, px], -1), "count": count}


class ChromatinDomain(Generator):
    """TAD blocks on the diagonal (contact-map-like) or A/B compartment checkerboards."""

    config: ChromatinDomainConfig

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        cfg = self.config
        D = cfg.num_domains
        u0 = ctx.uniform(4)  # mode, wavelength, phase y, phase x
        sizes_u = ctx.uniform(D)
        strength = ctx.uniform(ctx.C, D, low=-1.0, high=1.0)
        levels = ctx.uniform(ctx.C, 2, low=-1.0, high=1.0)
        if cfg.mode == "random":
            mode = pick(u0[:, 0], 2)
        else:
            mode = torch.full((ctx.B,), 0 if cfg.mode == "tad" else 1, device=ctx.device)
        v = cfg.size_variability
        sizes = 1.0 - v + 2.0 * v * sizes_u
        bounds = torch.cumsum(sizes, dim=1) / sizes.sum(dim=1, keepdim=True).to(torch.float32)
        starts = torch.cat([torch.zeros_like(bounds[:, :1]), bounds[:, :-1]], dim=1)
        ends = torch.cat([bounds[:, :-1], torch.ones_like(bounds[:, :1])], dim=1)
        rows = torch.arange(ctx.H, device=ctx.device, dtype=torch.float32)
        cols = torch.arange(ctx.W, device=ctx.device, dtype=torch.float32)
        s = cfg.boundary_sharpness

        def boxes(pixels: torch.Tensor, n: int) -> torch.Tensor:  # (B, D, n)
            lo = starts[..., None] * n - 0.5
            hi = ends[..., None] * n - 0.5
            first = (torch.arange(D, device=ctx.device) == 0)[None, :, None]
            last = (torch.arange(D, device=ctx.device) == D - 1)[None, :, None]
            left = torch.where(first, 1.0, torch.sigmoid(s * (pixels - lo)))
            right = torch.where(last, 1.0, torch.sigmoid(s * (hi - pixels)))
            return left * right

        by, bx = boxes(rows, ctx.H), boxes(cols, ctx.W)
        tad = torch.zeros(ctx.B, ctx.C, ctx.H, ctx.W, device=ctx.device)
        for d in range(D):
            block = by[:, d, :, None] * bx[:, d, None, :]
            tad = tad + strength[:, :, d, None, None] * block[:, None]
        lo, hi = cfg.compartment_wavelength_range
        lam = (lo + (hi - lo) * u0[:, 1])[:, None, None]
        Y, X = ctx.coords()
        checker = torch.sin(2 * math.pi * Y / lam + 2 * math.pi * u0[:, 2, None, None]) * torch.sin(
            2 * math.pi * X / lam + 2 * math.pi * u0[:, 3, None, None]
        )
        a_frac = torch.sigmoid(4.0 * s * checker)[:, None]
        ab = levels[:, :, 0, None, None] * a_frac + levels[:, :, 1, None, None] * (1.0 - a_frac)
        field = torch.where((mode == 0)[:, None, None, None], tad, ab)
        return field, {"mode": mode, "bounds": bounds, "strength": strength}


class ShockFront(Generator):
    """A normal shock: density, velocity, pressure (Rankine–Hugoniot), passive tracers; plus noise."""

    config: ShockFrontConfig

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        cfg = self.config
        u = ctx.uniform(2)  # angle, position
        tracer = ctx.uniform(max(ctx.C - 3, 0))
        noise = ctx.grf(ctx.C, 0.05)
        theta = 2 * math.pi * u[:, 0]
        g = ramp(ctx, theta)  # (B, H, W) in [0, 1]
        position = (0.2 + 0.6 * u[:, 1])[:, None, None]
        span = (
            torch.abs(torch.cos(theta)) * (ctx.W - 1) / ctx.L
            + torch.abs(torch.sin(theta)) * (ctx.H - 1) / ctx.L
        )
        d = (g - position) * span[:, None, None]  # signed distance (units of L), post-shock where d > 0
        step = soft_step(d, cfg.shock_width)
        r, gam = cfg.amplitude_ratio, cfg.gamma
        p_ratio = ((gam + 1) * r - (gam - 1)) / ((gam + 1) - (gam - 1) * r)
        ratios = [r, 1.0 / r, p_ratio]
        chans = []
        for c in range(ctx.C):
            if c < 3:
                post = torch.full((ctx.B,), ratios[c], device=ctx.device)
            else:
                post = 1.0 + (r - 1.0) * tracer[:, c - 3]
            chans.append(1.0 + (post[:, None, None] - 1.0) * step)
        field = torch.stack(chans, dim=1)
        return field + cfg.noise_amplitude * noise, {"theta": theta, "position": position[:, 0, 0]}


GENE_PATTERNS = ("gradient", "spots", "stripes", "radial", "uniform")


class GeneExpression(Generator):
    """One gene per channel with its own pattern, a shared co-regulation field and noise; [0, 1] levels."""

    config: GeneExpressionConfig

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        cfg = self.config
        u = ctx.uniform(ctx.C, 6)  # kind, angle, wavelength, centre y, centre x, phase
        shared = ctx.grf(1, cfg.shared_length_scale)
        eps = ctx.normal(ctx.C, ctx.H, ctx.W)
        allowed = torch.tensor([GENE_PATTERNS.index(p) for p in cfg.patterns], device=ctx.device)
        kind = allowed[pick(u[..., 0], len(allowed))]
        p = [u[..., i, None, None] for i in range(6)]
        theta = 2 * math.pi * p[1]
        lo, hi = cfg.spot_wavelength_range
        k = 2 * math.pi / (lo + (hi - lo) * p[2])
        ext_y, ext_x = ctx.extent
        cy, cx = p[3] * ext_y, p[4] * ext_x
        Y, X = ctx.coords()
        gradient = ramp(ctx, theta[..., 0, 0])
        spots = torch.zeros_like(theta + X)
        for j in range(3):
            angle = theta + j * 2 * math.pi / 3
            spots = spots + torch.cos(k * ((X - cx) * torch.cos(angle) + (Y - cy) * torch.sin(angle)))
        spots = (spots / 3.0 + 0.5) / 1.5
        stripes = 0.5 * (
            1.0 + torch.cos(k * (X * torch.cos(theta) + Y * torch.sin(theta)) + 2 * math.pi * p[5])
        )
        radial = torch.exp(-((X - cx) ** 2 + (Y - cy) ** 2) / 0.1)
        uniform = torch.full_like(radial, 0.5)
        sel = kind[..., None, None]
        pattern = torch.where(
            sel == 0,
            gradient,
            torch.where(
                sel == 1, spots, torch.where(sel == 2, stripes, torch.where(sel == 3, radial, uniform))
            ),
        )
        w = cfg.shared_weight
        raw = (1.0 - w) * pattern + w * shared + cfg.noise_level * eps
        lo_v = raw.amin(dim=(-2, -1), keepdim=True)
        hi_v = raw.amax(dim=(-2, -1), keepdim=True)
        span = hi_v - lo_v
        field = torch.where(span > 0, (raw - lo_v) / span.clamp(min=1e-30), torch.full_like(raw, 0.5))
        return field, {"kind": kind}
