"""Convolutions of stacked operators: :class:`StackedConv2d` (the leaf) and :class:`ConvBlock`.

Padding is ``circular`` by default: the grids are periodic domains, so the operator must be equivariant to
periodic shifts and see no artificial boundary. ``padding="zeros"`` is available for non-periodic data.

**Dropout.** Operators are random functions evaluated in inference, where ordinary dropout is inert (the
reference sampled ``dropout_rate`` with no effect, BUG-12). Here ``dropout_rate`` is a *structural*
sparsification drawn once at build time: each output channel of a conv block is kept with probability
``1 - dropout_rate`` (at least one channel is always kept), kept channels are scaled by
``1 / (1 - dropout_rate)``, and the mask is fixed for the operator's life. The uniform numbers behind the mask
are drawn from the operator's generator whatever the rate, so the weights do not change with the rate and the
masks are nested (a higher rate drops a superset of channels).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from spinlock.operators.blocks.base import (
    StackedModule,
    StackedNorm,
    activation_fn,
    fan_in_normal,
    fan_in_uniform,
    pad2d,
)
from spinlock.operators.blocks.configs import ConvBlockConfig


class StackedConv2d(StackedModule):
    """``O`` independent 2-D convolutions run as one grouped convolution.

    :param in_channels: input channels per operator.
    :param out_channels: output channels per operator.
    :param kernel_size: odd kernel size ``k``; ``same`` padding of ``k // 2``.
    :param num_operators: ``O``.
    :param stride: 1, or 2 to halve height and width.
    :param padding: ``circular`` (periodic, default) or ``zeros``.
    :param bias: whether to add a per-channel bias.

    Input ``(batch, O * in_channels, H, W)``; output ``(batch, O * out_channels, H / stride, W / stride)``.
    Weight ``(O, out_channels, in_channels, k, k)`` drawn ``N(0, weight_scale² / fan_in)``; bias
    ``U(±weight_scale / sqrt(fan_in))``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        *,
        num_operators: int = 1,
        stride: int = 1,
        padding: str = "circular",
        bias: bool = True,
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"'kernel_size' must be odd: {kernel_size!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.num_operators = num_operators
        self.stride = stride
        self.padding = padding
        self.weight = torch.nn.Parameter(
            torch.empty(num_operators, out_channels, in_channels, kernel_size, kernel_size)
        )
        self.bias = torch.nn.Parameter(torch.empty(num_operators, out_channels)) if bias else None
        self.reset_parameters()

    def init_operator(self, index: int, generator: torch.Generator, init: Mapping[str, float]) -> None:
        fan_in = self.in_channels * self.kernel_size**2
        scale = init["weight_scale"]
        self.weight.data[index] = fan_in_normal(self.weight.shape[1:], fan_in, generator, scale)
        if self.bias is not None:
            self.bias.data[index] = fan_in_uniform(self.bias.shape[1:], fan_in, generator, scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pad2d(x, self.kernel_size // 2, self.padding)
        weight = self.weight.reshape(-1, self.in_channels, self.kernel_size, self.kernel_size)
        bias = None if self.bias is None else self.bias.reshape(-1)
        return F.conv2d(x, weight, bias, stride=self.stride, groups=self.num_operators)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"num_operators={self.num_operators}, stride={self.stride}, padding={self.padding!r}"
        )


class ConvBlock(StackedModule):
    """Convolution → per-sample normalisation → activation → fixed channel-dropout mask.

    :param in_channels: input channels per operator.
    :param out_channels: output channels per operator.
    :param kernel_size: odd kernel size.
    :param num_operators: ``O``.
    :param stride: 1, or 2 to halve the grid.
    :param normalization: ``none``, ``instance``, ``group`` or ``layer`` (per sample).
    :param activation: ``gelu``, ``relu``, ``silu``, ``tanh`` or ``none``.
    :param padding: ``circular`` (default: periodic domains) or ``zeros``.
    :param dropout: whether the block carries a channel-dropout mask; the rate is per operator, given at
        initialisation (``init["dropout_rate"]``, see the module docstring).

    The convolution has a bias only when ``normalization="none"`` (a norm would cancel it).
    Input ``(batch, O * in_channels, H, W)``; output ``(batch, O * out_channels, H / stride, W / stride)``.
    """

    keep: torch.Tensor | None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        *,
        num_operators: int = 1,
        stride: int = 1,
        normalization: str = "instance",
        activation: str = "gelu",
        padding: str = "circular",
        dropout: bool = False,
    ) -> None:
        super().__init__()
        self.num_operators = num_operators
        self.out_channels = out_channels
        self.conv = StackedConv2d(
            in_channels,
            out_channels,
            kernel_size,
            num_operators=num_operators,
            stride=stride,
            padding=padding,
            bias=normalization == "none",
        )
        self.norm = StackedNorm(normalization, out_channels, num_operators=num_operators)
        self.activation = activation_fn(activation)
        self.dropout = dropout
        self.register_buffer("keep", torch.ones(num_operators, out_channels) if dropout else None)
        self._mask_is_identity = True

    def init_operator(self, index: int, generator: torch.Generator, init: Mapping[str, float]) -> None:
        if self.keep is None:
            return
        rate = float(init["dropout_rate"])
        uniforms = torch.rand(self.out_channels, generator=generator)
        kept = uniforms >= rate
        if not bool(kept.any()):
            kept[int(torch.argmax(uniforms))] = True
        self.keep[index] = kept.float() / (1.0 - rate)
        self._mask_is_identity = bool((self.keep == 1.0).all())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.activation(self.norm(self.conv(x)))
        if self.keep is not None and not self._mask_is_identity:
            x = x * self.keep.reshape(1, -1, 1, 1)
        return x

    @classmethod
    def from_config(cls, config: ConvBlockConfig, *, num_operators: int = 1) -> ConvBlock:
        """A block built from its registered config (weights from ``manual_seed(0)``)."""
        block = cls(
            config.in_channels,
            config.out_channels,
            config.kernel_size,
            num_operators=num_operators,
            stride=config.stride,
            normalization=config.normalization,
            activation=config.activation,
            padding=config.padding,
            dropout=config.dropout_rate > 0,
        )
        init = {"dropout_rate": config.dropout_rate}
        block.reset_parameters(inits=[init] * num_operators)
        return block
