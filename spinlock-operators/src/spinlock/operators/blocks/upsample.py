"""Upsampling of stacked operators: periodic bilinear ×2, then a conv block."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from spinlock.operators.blocks.base import StackedModule, pad2d
from spinlock.operators.blocks.conv import ConvBlock


def upsample2x(x: torch.Tensor, padding: str = "circular") -> torch.Tensor:
    """Bilinear ×2 upsampling (``align_corners=False``) that wraps around a periodic domain.

    With ``padding="circular"`` the input is padded by one wrapped pixel, upsampled and cropped, which is
    exactly bilinear interpolation on the torus; with ``zeros`` it is plain ``F.interpolate`` (edges clamp).
    ``(batch, channels, H, W)`` → ``(batch, channels, 2H, 2W)``.
    """
    if padding == "circular":
        up = F.interpolate(pad2d(x, 1, "circular"), scale_factor=2, mode="bilinear", align_corners=False)
        return up[..., 2:-2, 2:-2]
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class Upsample(StackedModule):
    """Double height and width: periodic bilinear ×2 followed by a :class:`ConvBlock`.

    :param in_channels: input channels per operator.
    :param out_channels: output channels per operator.
    :param kernel_size: odd kernel size of the conv.
    :param num_operators: ``O``.
    :param normalization: per-sample normalisation.
    :param activation: activation.
    :param padding: ``circular`` (default: periodic interpolation and padding) or ``zeros``.

    Input ``(batch, O * in_channels, H, W)``; output ``(batch, O * out_channels, 2H, 2W)``.
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
        self.padding = padding
        self.block = ConvBlock(
            in_channels,
            out_channels,
            kernel_size,
            num_operators=num_operators,
            normalization=normalization,
            activation=activation,
            padding=padding,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(upsample2x(x, self.padding))
