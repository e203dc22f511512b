"""Adaptive Fourier Neural Operator blocks (Guibas et al., 2022) for stacked operators.

:class:`AFNOFilter` is the token mixer: ``rfft2`` → on the kept low modes, a two-layer complex MLP that is
*block-diagonal* over ``num_blocks`` groups of channels (channels of one block never mix with another's) →
soft-shrinkage with threshold ``λ`` (``sparsity``) on real and imaginary parts, which zeroes weak modes →
``irfft2``. Following the paper the hidden layer uses ReLU on real and imaginary parts separately. The kept
modes are those of :mod:`spinlock.operators.blocks.spectral` (both row-frequency signs). FFTs run in float32
even under autocast.

:class:`AFNOBlock` is the pre-norm residual block around it: ``x + filter(norm(x))`` then
``x + mlp(norm(x))`` with a per-pixel channel MLP of width ``mlp_ratio × channels``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from spinlock.operators.blocks.base import StackedModule, StackedNorm, activation_fn, fan_in_normal
from spinlock.operators.blocks.conv import StackedConv2d
from spinlock.operators.blocks.spectral import check_modes, kept_rows


def _complex_relu(z: torch.Tensor) -> torch.Tensor:
    return torch.view_as_complex(F.relu(torch.view_as_real(z)).contiguous())


class AFNOFilter(StackedModule):
    """Spectral token mixing of AFNO: block-diagonal complex MLP on kept modes, then soft-shrinkage.

    :param channels: channels per operator; must be divisible by ``num_blocks``.
    :param num_blocks: channel blocks ``k``; block size ``b = channels / k``.
    :param modes: ``m``: row frequencies ``|ky| < m`` and column frequencies ``0 <= kx < m`` are kept.
    :param num_operators: ``O``.
    :param hidden_factor: hidden width of the complex MLP per block, ``round(hidden_factor × b)``.

    Weights (complex, stored as real ``(..., 2)``): ``w1 (O, k, b, h)``, ``b1 (O, k, h)``, ``w2 (O, k, h, b)``,
    ``b2 (O, k, b)``, each ``N(0, weight_scale² / fan_in)``. The shrinkage threshold ``λ`` is a per-operator
    buffer (``init["sparsity"]``) so operators with different ``λ`` stack together. Returns only the filtered
    field (no residual); modes not kept, and kept modes shrunk to zero, contribute nothing.
    Input and output ``(batch, O * channels, H, W)``.
    """

    init_fields = ("sparsity",)

    sparsity: torch.Tensor

    def __init__(
        self,
        channels: int,
        num_blocks: int,
        modes: int,
        *,
        num_operators: int = 1,
        hidden_factor: float = 1.0,
    ) -> None:
        super().__init__()
        if channels % num_blocks:
            raise ValueError(f"'num_blocks' must divide 'channels' ({channels}): {num_blocks!r}")
        if modes < 1:
            raise ValueError(f"'modes' must be >= 1: {modes!r}")
        self.channels = channels
        self.num_blocks = num_blocks
        self.block_size = channels // num_blocks
        self.hidden = max(1, round(hidden_factor * self.block_size))
        self.modes = modes
        self.num_operators = num_operators
        o, k, b, h = num_operators, num_blocks, self.block_size, self.hidden
        self.w1 = nn.Parameter(torch.empty(o, k, b, h, 2))
        self.b1 = nn.Parameter(torch.empty(o, k, h, 2))
        self.w2 = nn.Parameter(torch.empty(o, k, h, b, 2))
        self.b2 = nn.Parameter(torch.empty(o, k, b, 2))
        self.register_buffer("sparsity", torch.full((o,), 0.01))
        self.reset_parameters()

    def init_operator(self, index: int, generator: torch.Generator, init: Mapping[str, float]) -> None:
        scale = init["weight_scale"]
        b, h = self.block_size, self.hidden
        self.w1.data[index] = fan_in_normal(self.w1.shape[1:], 2 * b, generator, scale)
        self.b1.data[index] = fan_in_normal(self.b1.shape[1:], 2 * b, generator, scale)
        self.w2.data[index] = fan_in_normal(self.w2.shape[1:], 2 * h, generator, scale)
        self.b2.data[index] = fan_in_normal(self.b2.shape[1:], 2 * h, generator, scale)
        self.sparsity[index] = float(init["sparsity"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        check_modes(self.modes, height, width)
        m, ops, k, b = self.modes, self.num_operators, self.num_blocks, self.block_size
        with torch.autocast(device_type=x.device.type, enabled=False):
            spectrum = torch.fft.rfft2(x.float(), norm="ortho")
            spectrum = spectrum.reshape(batch, ops, k, b, height, width // 2 + 1)
            rows = kept_rows(height, m, x.device)
            low = spectrum[..., rows, :m]  # (batch, O, k, b, 2m-1, m)
            w1, b1 = torch.view_as_complex(self.w1.float()), torch.view_as_complex(self.b1.float())
            w2, b2 = torch.view_as_complex(self.w2.float()), torch.view_as_complex(self.b2.float())
            hidden = torch.einsum("bokixy,okih->bokhxy", low, w1) + b1[None, ..., None, None]
            hidden = _complex_relu(hidden)
            mixed = torch.einsum("bokhxy,okhi->bokixy", hidden, w2) + b2[None, ..., None, None]
            parts = torch.view_as_real(mixed)
            threshold = self.sparsity.float().reshape(1, ops, 1, 1, 1, 1, 1)
            parts = torch.sign(parts) * F.relu(parts.abs() - threshold)
            out = spectrum.new_zeros(batch, ops, k, b, height, width // 2 + 1)
            out[..., rows, :m] = torch.view_as_complex(parts.contiguous())
            y = torch.fft.irfft2(
                out.reshape(batch, -1, height, width // 2 + 1), s=(height, width), norm="ortho"
            )
        return y.to(x.dtype)

    def extra_repr(self) -> str:
        return (
            f"channels={self.channels}, num_blocks={self.num_blocks}, modes={self.modes}, "
            f"hidden={self.hidden}, num_operators={self.num_operators}"
        )


class AFNOBlock(StackedModule):
    """Pre-norm AFNO block: ``x = x + filter(norm1(x))``; ``x = x + mlp(norm2(x))``.

    :param channels: channels per operator (divisible by ``num_blocks``).
    :param num_blocks: channel blocks of the filter's block-diagonal MLP.
    :param modes: kept modes of the filter.
    :param num_operators: ``O``.
    :param hidden_factor: hidden width factor of the filter's complex MLP.
    :param mlp_ratio: hidden width of the channel MLP, ``round(mlp_ratio × channels)``.
    :param activation: activation of the channel MLP.
    :param normalization: per-sample normalisation before each branch (``layer`` by default).

    Input and output ``(batch, O * channels, H, W)``.
    """

    init_fields = ("sparsity",)

    def __init__(
        self,
        channels: int,
        num_blocks: int,
        modes: int,
        *,
        num_operators: int = 1,
        hidden_factor: float = 1.0,
        mlp_ratio: float = 2.0,
        activation: str = "gelu",
        normalization: str = "layer",
    ) -> None:
        super().__init__()
        self.num_operators = num_operators
        hidden = max(1, round(mlp_ratio * channels))
        self.norm1 = StackedNorm(normalization, channels, num_operators=num_operators)
        self.filter = AFNOFilter(
            channels, num_blocks, modes, num_operators=num_operators, hidden_factor=hidden_factor
        )
        self.norm2 = StackedNorm(normalization, channels, num_operators=num_operators)
        self.mlp = nn.Sequential(
            StackedConv2d(channels, hidden, 1, num_operators=num_operators),
            activation_fn(activation),
            StackedConv2d(hidden, channels, 1, num_operators=num_operators),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.filter(self.norm1(x))
        return x + self.mlp(self.norm2(x))
