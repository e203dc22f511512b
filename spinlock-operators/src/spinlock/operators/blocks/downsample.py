"""Downsampling of stacked operators: a stride-2 conv block."""

from __future__ import annotations

import torch

from spinlock.operators.blocks.base import StackedModule
from spinlock.operators.blocks.conv import ConvBlock


class Downsample(StackedModule):
    """Halve height and width with a stride-2 :class:`ConvBlock` (conv → norm → activation).

    :param in_channels: input channels per operator.
    :param out_channels: output channels per operator.
    :param kernel_size: odd kernel size.
    :param num_operators: ``O``.
    :param normalization: per-sample normalisation.
    :param activation: activation.
    :param padding: ``circular`` (default) or ``zeros``.

    Input ``(batch, O * in_channels, H, W)`` with even ``H`` and ``W``; output
    ``(batch, O * out_channels, H / 2, W / 2)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        *,
        num_operators: int = 1,
        normalization: str = "instance",
        activation: str = "gelu",
        padding: str = "circular",
    ) -> None:
        super().__init__()
        self.num_operators = num_operators
        self.block = ConvBlock(
            in_channels,
            out_channels,
            kernel_size,
            num_operators=num_operators,
            stride=2,
            normalization=normalization,
            activation=activation,
            padding=padding,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 2 or x.shape[-2] % 2:
            raise ValueError(f"Downsample needs an even grid, got {tuple(x.shape[-2:])}")
        return self.block(x)
