"""Configuration classes of the architectures (import-light: attrs only, no torch).

Every architecture hyper-parameter is a field with a default. Fields listed in ``PER_OPERATOR_FIELDS`` may
differ between operators that run stacked together; all the others determine the computation's shape and
form the architecture signature (:func:`spinlock.operators.architectures.architecture_signature`).
In/out channels are not fields: they are the grid's channels, given when the operator is built.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from spinlock.core.config.validators import non_negative, positive
from spinlock.operators.blocks.configs import (
    activation_field,
    at_least,
    at_most,
    normalization_field,
    odd,
    padding_field,
    probability_below_one,
)


def _int(default: int, minimum: int = 1, maximum: int | None = None) -> Any:
    validators = [at_least(minimum)] + ([at_most(maximum)] if maximum is not None else [])
    return attrs.field(default=default, converter=int, validator=validators)


@attrs.frozen
class CNNConfig:
    """A periodic CNN: lift conv block, ``num_layers`` hidden conv blocks, 1×1 projection back to the grid.

    :param num_layers: hidden conv blocks of width ``base_channels`` after the lift.
    :param base_channels: width of every hidden feature map.
    :param kernel_size: odd kernel size of the lift and hidden convolutions.
    :param activation: ``gelu``, ``relu``, ``silu``, ``tanh`` or ``none``.
    :param normalization: per-sample ``instance``, ``group``, ``layer`` or ``none``.
    :param padding: ``circular`` (periodic domain, default) or ``zeros``.
    :param residual: hidden blocks compute ``x + block(x)`` instead of ``block(x)``.
    :param dropout_rate: probability that each hidden channel is dropped by the operator's fixed, seeded
        channel mask (a structural sparsification; kept channels scaled by ``1/(1-p)``).
    :param weight_scale: gain of every weight draw (std ``weight_scale / sqrt(fan_in)``).
    """

    PER_OPERATOR_FIELDS: ClassVar[tuple[str, ...]] = ("dropout_rate", "weight_scale")

    num_layers: int = _int(3)
    base_channels: int = _int(16)
    kernel_size: int = attrs.field(default=3, converter=int, validator=[at_least(1), odd])
    activation: str = activation_field()
    normalization: str = normalization_field()
    padding: str = padding_field()
    residual: bool = attrs.field(default=False, converter=bool)
    dropout_rate: float = attrs.field(default=0.0, converter=float, validator=probability_below_one)
    weight_scale: float = attrs.field(default=1.0, converter=float, validator=positive)


@attrs.frozen
class UAFNOConfig:
    """A U-Net whose bottleneck is a stack of AFNO blocks (Guibas et al., 2022).

    :param base_channels: width ``B`` of the stem; level ``l`` has ``B·2^l`` channels, the bottleneck
        ``B·2^encoder_levels``.
    :param encoder_levels: number of stride-2 downsamplings ``L`` (grid sides must be divisible by ``2^L``).
    :param blocks_per_level: residual blocks per encoder level and per decoder level.
    :param afno_blocks: AFNO blocks in the bottleneck.
    :param modes: kept Fourier modes at the bottleneck (``|ky| < modes``, ``0 <= kx < modes``); must be at most
        the bottleneck's :func:`~spinlock.operators.blocks.spectral.max_modes`, checked when the grid is known.
    :param num_blocks: channel blocks of the AFNO block-diagonal MLP (divides the bottleneck width).
    :param hidden_factor: hidden width of the AFNO complex MLP relative to the block size.
    :param mlp_ratio: hidden width of the AFNO blocks' channel MLP relative to the bottleneck width.
    :param sparsity: soft-shrinkage threshold λ of the AFNO filter (0 disables shrinkage).
    :param activation: activation of the convolutions and channel MLPs.
    :param normalization: per-sample normalisation of every block.
    :param padding: ``circular`` (periodic, default) or ``zeros``; also selects periodic upsampling.
    :param weight_scale: gain of every weight draw.
    """

    PER_OPERATOR_FIELDS: ClassVar[tuple[str, ...]] = ("sparsity", "weight_scale")

    base_channels: int = _int(16)
    encoder_levels: int = _int(2, 1, 4)
    blocks_per_level: int = _int(1)
    afno_blocks: int = _int(2)
    modes: int = _int(4)
    num_blocks: int = _int(4)
    hidden_factor: float = attrs.field(default=1.0, converter=float, validator=positive)
    mlp_ratio: float = attrs.field(default=2.0, converter=float, validator=positive)
    sparsity: float = attrs.field(default=0.01, converter=float, validator=non_negative)
    activation: str = activation_field()
    normalization: str = normalization_field()
    padding: str = padding_field()
    weight_scale: float = attrs.field(default=1.0, converter=float, validator=positive)

    def __attrs_post_init__(self) -> None:
        width = self.bottleneck_channels
        if width % self.num_blocks:
            raise ValueError(
                f"'num_blocks' must divide the bottleneck width base_channels·2^encoder_levels "
                f"= {width}: {self.num_blocks!r}"
            )

    @property
    def bottleneck_channels(self) -> int:
        return self.base_channels * 2**self.encoder_levels

    def bottleneck_shape(self, height: int, width: int) -> tuple[int, int]:
        """The bottleneck grid of a ``height × width`` input; raises when the sides do not divide."""
        factor = 2**self.encoder_levels
        if height % factor or width % factor:
            raise ValueError(
                f"grid {height}×{width} is not divisible by 2^encoder_levels = {factor} "
                f"(encoder_levels={self.encoder_levels})"
            )
        return height // factor, width // factor

    def check_grid(self, height: int, width: int) -> int:
        """Validate ``modes`` against the bottleneck of this grid and return the effective ``modes``.

        Never clamps: a ``modes`` the bottleneck cannot hold would silently saturate (BUG-12), so it is an
        error naming the limit.
        """
        bh, bw = self.bottleneck_shape(height, width)
        limit = min((bh + 1) // 2, bw // 2 + 1)
        if self.modes > limit:
            raise ValueError(
                f"'modes' must be <= {limit} for a {height}×{width} grid with encoder_levels="
                f"{self.encoder_levels} (bottleneck {bh}×{bw}): {self.modes!r}"
            )
        return self.modes
