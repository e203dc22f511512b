"""The ``u_afno`` architecture: U-Net encoder/decoder with an AFNO bottleneck, stackable over operators."""

from __future__ import annotations

import torch
from torch import nn

from spinlock.operators.architectures.configs import UAFNOConfig
from spinlock.operators.blocks.afno import AFNOBlock
from spinlock.operators.blocks.base import StackedModule
from spinlock.operators.blocks.conv import ConvBlock, StackedConv2d
from spinlock.operators.blocks.downsample import Downsample
from spinlock.operators.blocks.residual import ResidualBlock
from spinlock.operators.blocks.upsample import Upsample


def _concat_per_operator(a: torch.Tensor, b: torch.Tensor, num_operators: int) -> torch.Tensor:
    """Concatenate channels operator by operator: ``(N, O*Ca, H, W), (N, O*Cb, H, W) → (N, O*(Ca+Cb), H, W)``."""
    n, _, h, w = a.shape
    a5 = a.reshape(n, num_operators, -1, h, w)
    b5 = b.reshape(n, num_operators, -1, h, w)
    return torch.cat([a5, b5], dim=2).reshape(n, -1, h, w)


class StackedUAFNO(StackedModule):
    """``O`` U-AFNO operators sharing one architecture signature, run as one computation.

    - Stem ``ConvBlock(C → B, 3)``.
    - Encoder level ``l`` (``c = B·2^l``): ``blocks_per_level`` × ``ResidualBlock(c → c)``, keep the skip,
      ``Downsample(c → 2c)`` (stride-2 conv).
    - Bottleneck (``B·2^L`` channels, grid ``H/2^L × W/2^L``): ``afno_blocks`` × :class:`AFNOBlock`.
    - Decoder level ``l`` in reverse: ``Upsample(2c → c)`` (periodic bilinear ×2 + conv), concatenate the
      skip, ``ConvBlock(2c → c)``, ``blocks_per_level`` × ``ResidualBlock(c → c)``.
    - Head ``1×1 conv (B → C)`` with bias.

    :param channels: the grid's channels ``C`` (any ``C >= 1``), in and out.
    :param config: the shared architecture.
    :param grid: ``(height, width)`` the operator will run on; ``modes`` is validated against its bottleneck.
    :param num_operators: ``O``.

    Input and output ``(batch, O * C, H, W)``: channels ``o*C … o*C+C-1`` are operator ``o``.
    """

    def __init__(
        self, channels: int, config: UAFNOConfig, grid: tuple[int, int], *, num_operators: int = 1
    ) -> None:
        super().__init__()
        self.num_operators = num_operators
        self.channels = channels
        self.grid = (int(grid[0]), int(grid[1]))
        #: the ``modes`` the AFNO filters really use (validated, never clamped)
        self.effective_modes = config.check_grid(*self.grid)
        self.bottleneck_grid = config.bottleneck_shape(*self.grid)
        common = {
            "num_operators": num_operators,
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
                    num_operators=num_operators,
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
        self.head = StackedConv2d(base, channels, 1, num_operators=num_operators, padding=config.padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != self.grid:
            raise ValueError(f"this U-AFNO was built for a {self.grid} grid, got {tuple(x.shape[-2:])}")
        x = self.stem(x)
        skips = []
        for encode, down in zip(self.encoder, self.down, strict=True):
            x = encode(x)
            skips.append(x)
            x = down(x)
        x = self.bottleneck(x)
        for up, fuse, decode, skip in zip(self.up, self.fuse, self.decoder, reversed(skips), strict=True):
            x = decode(fuse(_concat_per_operator(up(x), skip, self.num_operators)))
        return self.head(x)
