"""Residual block of stacked operators."""

from __future__ import annotations

import torch
from torch import nn

from spinlock.operators.blocks.base import StackedModule
from spinlock.operators.blocks.conv import ConvBlock, StackedConv2d


class ResidualBlock(StackedModule):
    """``skip(x) + conv_blocks(x)``: ``num_convs`` :class:`ConvBlock` in sequence plus a skip connection.

    :param in_channels: input channels per operator.
    :param out_channels: output channels per operator.
    :param kernel_size: odd kernel size of every conv.
    :param num_operators: ``O``.
    :param num_convs: conv blocks on the main branch (>= 1).
    :param normalization: per-sample normalisation of each conv block.
    :param activation: activation of each conv block.
    :param padding: ``circular`` (default) or ``zeros``.
    :param dropout: whether the conv blocks carry channel-dropout masks.

    The skip is the identity when ``in_channels == out_channels`` and a bias-free 1×1 projection otherwise.
    Input ``(batch, O * in_channels, H, W)``; output ``(batch, O * out_channels, H, W)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        *,
        num_operators: int = 1,
        num_convs: int = 2,
        normalization: str = "instance",
        activation: str = "gelu",
        padding: str = "circular",
        dropout: bool = False,
    ) -> None:
        super().__init__()
        if num_convs < 1:
            raise ValueError(f"'num_convs' must be >= 1: {num_convs!r}")
        self.num_operators = num_operators
        self.convs = nn.Sequential(
            *(
                ConvBlock(
                    in_channels if i == 0 else out_channels,
                    out_channels,
                    kernel_size,
                    num_operators=num_operators,
                    normalization=normalization,
                    activation=activation,
                    padding=padding,
                    dropout=dropout,
                )
                for i in range(num_convs)
            )
        )
        self.skip: nn.Module
        if in_channels == out_channels:
            self.skip = nn.Identity()
        else:
            self.skip = StackedConv2d(in_channels, out_channels, 1, num_operators=num_operators, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.convs(x)
