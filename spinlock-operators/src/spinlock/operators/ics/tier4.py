"""Tier 4 (research frontiers) initial conditions: coherent states, relativistic packets, mutual information,
regulatory networks, aggregation clusters, error-correcting codes."""

from __future__ import annotations

import math

import torch

from spinlock.operators.ics.base import GOLDEN_ANGLE, Context, Generator, complex_channels, gaussian_power
from spinlock.operators.ics.configs import (
    CoherentStateConfig,
    DLAClusterConfig,
    ErrorCorrectingCodeConfig,
    MutualInformationConfig,
    RegulatoryNetworkConfig,
    RelativisticWavePacketConfig,
)

Info = dict[str, torch.Tensor]


class CoherentState(Generator):
    """Gaussian-envelope plane waves at golden-angle phase rotations per channel, over a GRF background."""

    config: CoherentStateConfig

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        cfg = self.config
        Mo = cfg.num_modes
        u = ctx.uniform(Mo, 4)  # centre y, centre x, direction, phase
        background = ctx.grf(ctx.C, cfg.background_length_scale, 1.0)
        ext_y, ext_x = ctx.extent
        cy = (0.25 + 0.5 * u[..., 0]) * ext_y
        cx = (0.25 + 0.5 * u[..., 1]) * ext_x
        theta = 2 * math.pi * u[..., 2]
        k = 2 * math.pi * cfg.wavenumber
        offsets = (
            torch.arange(ctx.C, device=ctx.device, dtype=torch.float32)[None, :, None, None] * GOLDEN_ANGLE
        )
        Y, X = ctx.coords()
        field = math.sqrt(cfg.background_variance) * background
        for m in range(Mo):
            dy, dx = Y - cy[:, m, None, None], X - cx[:, m, None, None]
            env = cfg.alpha * torch.exp(-(dx**2 + dy**2) / (2 * cfg.sigma**2))
            arg = k * (dx * torch.cos(theta[:, m, None, None]) + dy * torch.sin(theta[:, m, None, None]))
            arg = arg + 2 * math.pi * u[:, m, 3, None, None]
            field = field + env[:, None] * torch.cos(arg[:, None] - offsets)
        return field, {"centres": torch.stack([cy, cx], -1)}


class RelativisticWavePacket(Generator):
    """Packet contracted by γ along its direction of motion; channels Re ψ, Im ψ, |ψ|², rotated Re ψ."""

    config: RelativisticWavePacketConfig

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        cfg = self.config
        u = ctx.uniform(5)  # centre y, centre x, direction, k, phase
        ext_y, ext_x = ctx.extent
        cy = ((0.3 + 0.4 * u[:, 0]) * ext_y)[:, None, None]
        cx = ((0.3 + 0.4 * u[:, 1]) * ext_x)[:, None, None]
        theta = (2 * math.pi * u[:, 2])[:, None, None]
        lo, hi = cfg.momentum_range
        k = (2 * math.pi * (lo + (hi - lo) * u[:, 3]))[:, None, None]
        gamma = 1.0 / math.sqrt(1.0 - cfg.velocity**2)
        Y, X = ctx.coords()
        xp = (X - cx) * torch.cos(theta) + (Y - cy) * torch.sin(theta)
        yp = -(X - cx) * torch.sin(theta) + (Y - cy) * torch.cos(theta)
        env = torch.exp(-((gamma * xp) ** 2 + yp**2) / (2 * cfg.sigma**2))
        arg = k * xp + 2 * math.pi * u[:, 4, None, None]
        return complex_channels(env * torch.cos(arg), env * torch.sin(arg), ctx.C), {"theta": theta[:, 0, 0]}


class MutualInformation(Generator):
    """Channels √r·z + √(1 − r)·ε_c sharing a latent z, with pairwise mutual information I = −½ln(1 − r²)."""

    config: MutualInformationConfig

    def correlation(self) -> float:
        return math.sqrt(1.0 - math.exp(-2.0 * self.config.mutual_information))

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        cfg = self.config
        k = ctx.radial_wavenumber()
        ell = cfg.length_scale
        if cfg.correlation_type == "local":
            power = gaussian_power(k, ell / 2)
        elif cfg.correlation_type == "long_range":
            power = gaussian_power(k, 2 * ell)
        else:
            power = torch.zeros_like(k)
            for f in (0.25, 0.5, 1.0, 2.0):
                p = gaussian_power(k, ell * f)
                p[0, 0] = 0.0
                power = power + p / (p * ctx.rfft_weights()).sum()
        z = ctx.gaussian_field(1, power)
        eps = ctx.grf(ctx.C, cfg.noise_length_scale)
        r = self.correlation()
        return math.sqrt(r) * z + math.sqrt(1.0 - r) * eps, {}


class RegulatoryNetwork(Generator):
    """Expression states of a random gene network (x ← tanh(Wx + noise)) painted as Gaussian bumps."""

    config: RegulatoryNetworkConfig

    def adjacency(self, ctx: Context) -> torch.Tensor:
        """``(B, G, G)`` 0/1 adjacency (row i: inputs of gene i), drawn from each sample's generator."""
        cfg = self.config
        G = cfg.num_genes
        u = ctx.uniform(G, G)
        eye = torch.eye(G, device=ctx.device, dtype=torch.bool)[None]
        if cfg.topology == "random":
            adj = (u < cfg.edge_probability) & ~eye
        elif cfg.topology == "hub":
            hub = torch.zeros(G, G, dtype=torch.bool, device=ctx.device)
            hub[0, 1:] = True
            hub[1:, 0] = True
            adj = hub[None].expand(ctx.B, G, G).clone()
        else:  # preferential attachment, two links per new node
            adj = torch.zeros(ctx.B, G, G, dtype=torch.bool, device=ctx.device)
            adj[:, 0, 1] = adj[:, 1, 0] = True
            for t in range(2, G):
                degree = adj[:, :t, :t].sum(dim=2).to(torch.float64) + 1e-9
                cdf = torch.cumsum(degree, dim=1)
                cdf = cdf / cdf[:, -1:]
                for j in range(2):
                    target = torch.searchsorted(cdf, u[:, t, j : j + 1].to(torch.float64)).clamp(max=t - 1)[
                        :, 0
                    ]
                    rows = torch.arange(ctx.B, device=ctx.device)
                    adj[rows, t, target] = True
                    adj[rows, target, t] = True
        return adj

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        cfg = self.config
        G = cfg.num_genes
        adj = self.adjacency(ctx)
        weights = ctx.uniform(G, G, low=-1.0, high=1.0) * adj.to(torch.float32)
        pos = ctx.uniform(G, 2)
        x = ctx.normal(G, ctx.C)
        eps = ctx.normal(max(cfg.iterations, 1), G, ctx.C)
        for step in range(cfg.iterations):
            drive = torch.zeros_like(x)
            for j in range(G):  # W x, accumulated in a fixed order
                drive = drive + weights[:, :, j, None] * x[:, None, j, :]
            x = torch.tanh(drive + cfg.noise * eps[:, step])
        ext_y, ext_x = ctx.extent
        py, px = pos[..., 0] * ext_y, pos[..., 1] * ext_x
        Y, X = ctx.coords()
        field = torch.zeros(ctx.B, ctx.C, ctx.H, ctx.W, device=ctx.device)
        for i in range(G):
            bump = torch.exp(
                -((Y - py[:, i, None, None]) ** 2 + (X - px[:, i, None, None]) ** 2) / (2 * cfg.gene_width**2)
            )
            field = field + x[:, i, :, None, None] * bump[:, None]
        scale = field.abs().amax(dim=(1, 2, 3), keepdim=True).clamp(min=1e-30)
        return field / scale, {"adjacency": adj, "expression": x, "positions": torch.stack([py, px], -1)}


class DLACluster(Generator):
    """Tip-biased aggregation from a point or line seed; channels occupancy, growth time, halos."""

    config: DLAClusterConfig

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        cfg = self.config
        B, H, W = ctx.B, ctx.H, ctx.W
        # 0/1 occupancy in float32 (counts are exact integers) with a zero border for the neighbour sums
        padded = torch.zeros(B, H + 2, W + 2, device=ctx.device)
        occupied = padded[:, 1 : H + 1, 1 : W + 1]  # a view: updated in place
        if cfg.seed_shape == "point":
            occupied[:, H // 2, W // 2] = 1.0
        else:
            occupied[:, H - 1, :] = 1.0
        target = max(math.ceil(cfg.cluster_fraction * H * W), int(occupied[0].sum()) + 1)
        joined_at = torch.where(occupied > 0, 0.0, -1.0)
        count = occupied.sum(dim=(1, 2))
        max_steps = 4 * (H + W) + 16
        step = 0
        while step < max_steps:
            active = count < target
            if not bool(active.any()):
                break
            step += 1
            u = ctx.uniform(H, W)  # every sample draws every step: a sample's draws never depend on its batch
            n = -occupied
            for dy in range(3):
                for dx in range(3):
                    n.add_(padded[:, dy : dy + H, dx : dx + W])
            p = cfg.stickiness * torch.exp(-cfg.branching * (n - 1.0))
            join = (occupied == 0) & (n >= 1) & (u < p) & active[:, None, None]
            joins = join.to(torch.float32)
            quota = (target - count).clamp(min=0)
            over = joins.sum(dim=(1, 2)) > quota
            if bool(over.any()):
                # keep the joiners with the smallest draws so the cluster stops exactly at the target
                scores = torch.where(join, u, torch.full_like(u, 2.0)).flatten(1)
                rank = (quota - 1).clamp(min=0).long()[:, None]
                kth = torch.sort(scores, dim=1).values.gather(1, rank)[:, 0]
                keep = join & (u <= kth[:, None, None])
                join = torch.where(over[:, None, None], keep, join)
                joins = join.to(torch.float32)
            occupied.add_(joins)
            count = count + joins.sum(dim=(1, 2))
            joined_at = torch.where(join, float(step), joined_at)
        occupied_mask = occupied > 0
        occ = occupied.clone()
        last = joined_at.amax(dim=(1, 2), keepdim=True).clamp(min=1.0)
        growth = torch.where(occupied_mask, 1.0 - joined_at / (last + 1.0), torch.zeros_like(occ))
        chans = []
        for c in range(ctx.C):
            if c == 0:
                chans.append(occ)
            elif c == 1:
                chans.append(growth)
            else:
                halo = ctx.smooth(occ, cfg.halo_length * 2 ** (c - 2))
                chans.append(halo / halo.amax(dim=(1, 2), keepdim=True).clamp(min=1e-30))
        return torch.stack(chans, dim=1), {"steps": torch.full((B,), step, device=ctx.device)}


class ErrorCorrectingCode(Generator):
    """Codewords of a repetition / parity / random linear code as ±1 pixel blocks, with bit flips."""

    config: ErrorCorrectingCodeConfig

    def message_length(self) -> int:
        cfg = self.config
        if cfg.code == "parity":
            return cfg.codeword_length - 1
        return max(1, min(cfg.codeword_length, math.floor(cfg.codeword_length * cfg.code_rate)))

    def _generate(self, ctx: Context) -> tuple[torch.Tensor, Info]:
        cfg = self.config
        bs, n = cfg.block_size, cfg.codeword_length
        k = self.message_length()
        nby, nbx = -(-ctx.H // bs), -(-ctx.W // bs)
        n_blocks = nby * nbx
        n_words = -(-n_blocks // n)
        message = (ctx.uniform(ctx.C, n_words, k) < 0.5).to(torch.float32)
        parity_part = (ctx.uniform(k, max(n - k, 0)) < 0.5).to(torch.float32)
        flips = ctx.uniform(ctx.C, n_words * n) < cfg.flip_rate
        if cfg.code == "repetition":
            source = torch.arange(n, device=ctx.device) * k // n
            code = message[..., source]
        elif cfg.code == "parity":
            code = torch.cat([message, torch.remainder(message.sum(dim=-1, keepdim=True), 2.0)], dim=-1)
        else:
            # systematic generator [I | P]: c = m·G mod 2 (exact: small integers in float32)
            checks = (message[..., :, None] * parity_part[:, None, None]).sum(dim=-2)
            code = torch.cat([message, torch.remainder(checks, 2.0)], dim=-1)
        clean = code.flatten(2)  # (B, C, n_words·n)
        noisy = torch.where(flips, 1.0 - clean, clean)
        bits = noisy[..., :n_blocks].reshape(ctx.B, ctx.C, nby, nbx)
        field = (2.0 * bits - 1.0).repeat_interleave(bs, dim=2).repeat_interleave(bs, dim=3)
        info = {"clean": clean, "flips": flips, "message": message}
        return field[..., : ctx.H, : ctx.W], info
