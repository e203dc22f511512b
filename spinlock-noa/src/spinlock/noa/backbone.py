"""The agent's network: a θ-conditioned U-AFNO that steps a state forward, and its rollout.

Built from the operator blocks of :mod:`spinlock.operators.blocks` (with ``num_operators=1`` each is an
ordinary trainable module on ``(batch, channels, height, width)``):

- stem ``ConvBlock(C → B)``; encoder level ``l`` (``c = B·2^l``): residual blocks, keep the skip,
  ``Downsample(c → 2c)``; bottleneck of :class:`~spinlock.operators.blocks.afno.AFNOBlock` (block-diagonal
  complex MLP with soft-shrinkage); decoder level: ``Upsample(2c → c)``, concatenate the skip,
  ``ConvBlock(2c → c)``, residual blocks; head ``1×1 conv (B → C)``.
- **θ conditioning (FiLM).** The unit-cube θ ``(batch, P)`` goes through an MLP once per rollout; one
  linear head per stage (stem, every encoder level, bottleneck, every decoder level) gives a per-channel
  scale and shift, applied as ``x·(1 + γ) + β``. A further head gives a per-channel linear coefficient
  ``a(θ)``, so the step function is ``f(u, θ) = g(u, θ) + a(θ)·u``: the per-sample norms inside ``g`` make
  it blind to the state's amplitude (like the dataset's operators, whose norms do the same), and the linear
  term carries what the update policies add in proportion to the state (a convex update keeps ``α·u``).
- **Stepping.** ``residual``: ``u_{t+1} = u_t + dt·f(u_t, θ)``; ``autoregressive``: ``u_{t+1} = f(u_t, θ)``.
- **Rollout.** ``T`` states including ``u0`` (``T − 1`` updates, as the rollout engine counts them), of
  which every ``stride``-th is returned; optional gradient checkpointing of every step and truncated BPTT
  (the state is detached every ``bptt_window`` updates).

Parameters are drawn from one seeded generator, in module order, so two agents built with the same seed are
identical and no two layers share a draw.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from spinlock.noa.config import BackboneConfig
from spinlock.operators.blocks.afno import AFNOBlock
from spinlock.operators.blocks.base import DEFAULT_INIT, StackedModule, activation_fn
from spinlock.operators.blocks.conv import ConvBlock, StackedConv2d
from spinlock.operators.blocks.downsample import Downsample
from spinlock.operators.blocks.residual import ResidualBlock
from spinlock.operators.blocks.spectral import max_modes
from spinlock.operators.blocks.upsample import Upsample

#: gain of the head's and the FiLM heads' initial weights: the untrained agent starts close to
#: "keep the state" (residual) and to unmodulated features
HEAD_GAIN = 0.1


def check_grid(config: BackboneConfig, height: int, width: int) -> tuple[int, int]:
    """The bottleneck grid of ``config`` on ``height × width``; ``ValueError`` when it does not fit.

    The grid must be divisible by ``2^encoder_levels`` and the bottleneck must hold ``modes`` modes.
    """
    factor = 2**config.encoder_levels
    if height % factor or width % factor:
        raise ValueError(
            f"a {height}×{width} grid is not divisible by 2^encoder_levels = {factor}; "
            "lower backbone.encoder_levels"
        )
    bottleneck = (height // factor, width // factor)
    limit = max_modes(*bottleneck)
    if config.modes > limit:
        raise ValueError(
            f"'modes' must be <= {limit} for a {height}×{width} grid with encoder_levels="
            f"{config.encoder_levels} (bottleneck {bottleneck[0]}×{bottleneck[1]}): {config.modes}"
        )
    return bottleneck


class FiLM(nn.Module):
    """θ ``(batch, P)`` → per stage ``(γ, β)`` of shape ``(batch, c_stage)`` each, and ``a (batch, C)``.

    :param n_parameters: ``P``.
    :param stages: the channel width of every modulated stage.
    :param channels: ``C``, the state's channels (for the linear coefficient ``a``).
    :param hidden: width of the MLP.
    :param layers: hidden layers of the MLP.
    :param activation: its nonlinearity.
    """

    def __init__(
        self,
        n_parameters: int,
        stages: Sequence[int],
        channels: int,
        *,
        hidden: int,
        layers: int,
        activation: str,
    ) -> None:
        super().__init__()
        modules: list[nn.Module] = []
        width = n_parameters
        for _ in range(layers):
            modules += [nn.Linear(width, hidden), activation_fn(activation)]
            width = hidden
        self.trunk = nn.Sequential(*modules)
        self.heads = nn.ModuleList(nn.Linear(hidden, 2 * c) for c in stages)
        self.linear = nn.Linear(hidden, channels)
        self.stages = tuple(stages)

    def forward(self, theta: torch.Tensor) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
        """``θ (batch, P)`` in [0, 1] → ``([(γ, β) per stage], a (batch, C))``."""
        h = self.trunk(2.0 * theta - 1.0)
        films = []
        for head in self.heads:
            gamma, beta = head(h).chunk(2, dim=-1)
            films.append((gamma, beta))
        return films, self.linear(h)


def _modulate(x: torch.Tensor, film: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    gamma, beta = film
    return x * (1.0 + gamma[:, :, None, None]) + beta[:, :, None, None]


class NOABackbone(nn.Module):
    """θ-conditioned U-AFNO step ``f(u, θ)`` and rollout.

    :param channels: ``C`` of the states ``(batch, C, height, width)``.
    :param n_parameters: ``P`` of the unit-cube θ ``(batch, P)``.
    :param grid: ``(height, width)`` of the states; checked against ``config`` (divisibility, modes).
    :param config: the architecture.
    :param seed: seeds the initial weights.
    :param init: draw the initial weights (``False`` leaves the blocks' placeholder draws, e.g. to count
        parameters on the ``meta`` device).
    """

    def __init__(
        self,
        channels: int,
        n_parameters: int,
        grid: tuple[int, int],
        config: BackboneConfig | None = None,
        *,
        seed: int = 0,
        init: bool = True,
    ) -> None:
        super().__init__()
        config = config if config is not None else BackboneConfig()
        if channels < 1 or n_parameters < 1:
            raise ValueError(f"need channels >= 1 and n_parameters >= 1, got {channels} and {n_parameters}")
        self.config = config
        self.channels = channels
        self.n_parameters = n_parameters
        self.grid = (int(grid[0]), int(grid[1]))
        self.bottleneck_grid = check_grid(config, *self.grid)
        common = {
            "normalization": config.normalization,
            "activation": config.activation,
            "padding": config.padding,
        }
        base, levels = config.base_channels, config.encoder_levels
        self.stem = ConvBlock(channels, base, 3, **common)  # type: ignore[arg-type]
        self.encoder = nn.ModuleList()
        self.down = nn.ModuleList()
        for level in range(levels):
            width = base * 2**level
            blocks = [ResidualBlock(width, width, 3, **common) for _ in range(config.blocks_per_level)]  # type: ignore[arg-type]
            self.encoder.append(nn.Sequential(*blocks))
            self.down.append(Downsample(width, 2 * width, 3, **common))  # type: ignore[arg-type]
        self.bottleneck = nn.Sequential(
            *(
                AFNOBlock(
                    config.bottleneck_channels,
                    config.num_blocks,
                    config.modes,
                    hidden_factor=config.hidden_factor,
                    mlp_ratio=config.mlp_ratio,
                    activation=config.activation,
                    normalization=config.normalization,
                )
                for _ in range(config.afno_blocks)
            )
        )
        self.up = nn.ModuleList()
        self.fuse = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for level in reversed(range(levels)):
            width = base * 2**level
            self.up.append(Upsample(2 * width, width, 3, **common))  # type: ignore[arg-type]
            self.fuse.append(ConvBlock(2 * width, width, 3, **common))  # type: ignore[arg-type]
            blocks = [ResidualBlock(width, width, 3, **common) for _ in range(config.blocks_per_level)]  # type: ignore[arg-type]
            self.decoder.append(nn.Sequential(*blocks))
        self.head = StackedConv2d(base, channels, 1, padding=config.padding)
        self.film = FiLM(
            n_parameters,
            config.stage_channels(),
            channels,
            hidden=config.film_hidden,
            layers=config.film_layers,
            activation=config.activation,
        )
        if init:
            self.reset_parameters(seed)

    @torch.no_grad()
    def reset_parameters(self, seed: int = 0) -> None:
        """Draw every weight from one generator seeded by ``seed`` (CPU draws, then copied to the device)."""
        generator = torch.Generator().manual_seed(seed)
        sparsity = {**DEFAULT_INIT, "sparsity": self.config.sparsity}
        for module in self.modules():
            if isinstance(module, StackedModule) and module is not self.head:
                module.init_operator(0, generator, sparsity)
        self.head.init_operator(0, generator, {**sparsity, "weight_scale": HEAD_GAIN})
        for module in self.film.modules():
            if isinstance(module, nn.Linear):
                gain = HEAD_GAIN if module is self.film.linear or module in self.film.heads else 1.0
                bound = gain / module.in_features**0.5
                device = module.weight.device
                module.weight.copy_(
                    (torch.rand(module.weight.shape, generator=generator) * 2 - 1).mul_(bound).to(device)
                )
                module.bias.copy_(
                    (torch.rand(module.bias.shape, generator=generator) * 2 - 1).mul_(bound).to(device)
                )

    # -------------------------------------------------------------------------------------------- step
    def condition(self, theta: torch.Tensor) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
        """FiLM parameters of every stage and the linear coefficient, from ``θ (batch, P)``."""
        if theta.ndim != 2 or theta.shape[1] != self.n_parameters:
            raise ValueError(f"theta must have shape (batch, {self.n_parameters}), got {tuple(theta.shape)}")
        return self.film(theta)

    def tendency(
        self,
        u: torch.Tensor,
        films: Sequence[tuple[torch.Tensor, torch.Tensor]],
        linear: torch.Tensor,
    ) -> torch.Tensor:
        """``f(u, θ) = g(u, θ) + a(θ)·u`` for ``u (batch, C, height, width)``, given :meth:`condition`."""
        stage = iter(films)
        x = _modulate(self.stem(u), next(stage))
        skips = []
        for encode, down in zip(self.encoder, self.down, strict=True):
            x = _modulate(encode(x), next(stage))
            skips.append(x)
            x = down(x)
        x = _modulate(self.bottleneck(x), next(stage))
        for up, fuse, decode, skip in zip(self.up, self.fuse, self.decoder, reversed(skips), strict=True):
            x = _modulate(decode(fuse(torch.cat([up(x), skip], dim=1))), next(stage))
        return self.head(x) + linear[:, :, None, None] * u

    def step(
        self,
        u: torch.Tensor,
        films: Sequence[tuple[torch.Tensor, torch.Tensor]],
        linear: torch.Tensor,
    ) -> torch.Tensor:
        """One update ``u_t → u_{t+1}`` (``(batch, C, height, width)``) with the configured policy."""
        f = self.tendency(u, films, linear)
        if self.config.update == "residual":
            return u + self.config.dt * f
        return f

    def forward(self, u: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """One update of ``u (batch, C, height, width)`` under ``θ (batch, P)``."""
        self._check_state(u, theta)
        films, linear = self.condition(theta)
        return self.step(u, films, linear)

    # -------------------------------------------------------------------------------------------- rollout
    def rollout(
        self,
        u0: torch.Tensor,
        theta: torch.Tensor,
        steps: int,
        *,
        stride: int = 1,
        bptt_window: int = 0,
        gradient_checkpointing: bool = False,
    ) -> torch.Tensor:
        """Roll out ``steps`` states from ``u0 (batch, C, height, width)`` under ``θ (batch, P)``.

        :param steps: ``T``, the number of states including ``u0`` (``T − 1`` updates).
        :param stride: keep states ``0, s, 2s, …`` below ``T`` (``T' = ceil(T / s)``), as datasets store them.
        :param bptt_window: detach the state every ``bptt_window`` updates (0: never).
        :param gradient_checkpointing: recompute each update in the backward pass instead of storing its
            activations (only when gradients are being recorded).
        :returns: ``(batch, T', C, height, width)``; frame 0 is ``u0``.
        """
        if steps < 1 or stride < 1:
            raise ValueError(f"need steps >= 1 and stride >= 1, got {steps} and {stride}")
        self._check_state(u0, theta)
        films, linear = self.condition(theta)
        use_checkpoint = gradient_checkpointing and torch.is_grad_enabled()
        u = u0
        kept = [u0]
        for t in range(1, steps):
            if bptt_window and t > 1 and (t - 1) % bptt_window == 0:
                u = u.detach()
            if use_checkpoint:
                u = checkpoint(self.step, u, films, linear, use_reentrant=False)
            else:
                u = self.step(u, films, linear)
            if t % stride == 0:
                kept.append(u)
        return torch.stack(kept, dim=1)

    def _check_state(self, u: torch.Tensor, theta: torch.Tensor) -> None:
        expected = (self.channels, *self.grid)
        if u.ndim != 4 or tuple(u.shape[1:]) != expected:
            raise ValueError(
                f"states must have shape (batch, {', '.join(map(str, expected))}), got {tuple(u.shape)}"
            )
        if theta.shape[0] != u.shape[0]:
            raise ValueError(f"theta has {theta.shape[0]} rows but the states have {u.shape[0]}")


def parameter_count(module: nn.Module) -> int:
    """Number of trainable scalars of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
