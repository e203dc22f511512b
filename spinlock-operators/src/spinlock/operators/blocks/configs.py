"""Configuration classes of the operator blocks (import-light: attrs only, no torch).

Every field has a default, every config is frozen, and the validators name the field and the bad value
(``'modes' must be >= 1: 0``). The block factories registered under these configs build a module for one
operator (``num_operators=1``); architectures build the same blocks stacked over many operators.
"""

from __future__ import annotations

from typing import Any

import attrs

from spinlock.core.config.validators import non_negative, one_of, positive

#: activations every block accepts
ACTIVATIONS = ("gelu", "relu", "silu", "tanh", "none")
#: per-sample normalisations every block accepts (never across the batch)
NORMALIZATIONS = ("none", "instance", "group", "layer")
#: spatial padding of convolutions: periodic domains use ``circular``
PADDINGS = ("circular", "zeros")


def at_least(minimum: int) -> Any:
    """``value >= minimum`` with the message ``'name' must be >= minimum: value``."""

    def check(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not value >= minimum:
            raise ValueError(f"'{attribute.name}' must be >= {minimum}: {value!r}")

    return check


def at_most(maximum: int) -> Any:
    """``value <= maximum`` with the message ``'name' must be <= maximum: value``."""

    def check(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not value <= maximum:
            raise ValueError(f"'{attribute.name}' must be <= {maximum}: {value!r}")

    return check


def odd(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """Odd kernel sizes keep ``same`` padding symmetric."""
    if value % 2 != 1:
        raise ValueError(f"'{attribute.name}' must be odd: {value!r}")


def probability_below_one(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """``0 <= value < 1`` (a dropout rate of 1 would drop every channel)."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"'{attribute.name}' must be in [0, 1): {value!r}")


def _int_field(default: int, minimum: int = 1, maximum: int | None = None) -> Any:
    validators = [at_least(minimum)] + ([at_most(maximum)] if maximum is not None else [])
    return attrs.field(default=default, converter=int, validator=validators)


def _channels(default: int = 3) -> Any:
    return _int_field(default, 1)


def _kernel(default: int = 3) -> Any:
    return attrs.field(default=default, converter=int, validator=[at_least(1), odd])


def activation_field(default: str = "gelu") -> Any:
    return attrs.field(default=default, validator=one_of(*ACTIVATIONS))


def normalization_field(default: str = "instance") -> Any:
    return attrs.field(default=default, validator=one_of(*NORMALIZATIONS))


def padding_field(default: str = "circular") -> Any:
    return attrs.field(default=default, validator=one_of(*PADDINGS))


@attrs.frozen
class ConvBlockConfig:
    """Convolution → normalisation → activation → fixed channel-dropout mask."""

    in_channels: int = _channels()
    out_channels: int = _channels()
    kernel_size: int = _kernel()
    stride: int = _int_field(1, 1, 2)
    normalization: str = normalization_field()
    activation: str = activation_field()
    padding: str = padding_field()
    dropout_rate: float = attrs.field(default=0.0, converter=float, validator=probability_below_one)


@attrs.frozen
class ResidualBlockConfig:
    """``num_convs`` conv blocks plus a skip (1×1 projection when the channel count changes)."""

    in_channels: int = _channels()
    out_channels: int = _channels()
    kernel_size: int = _kernel()
    num_convs: int = _int_field(2)
    normalization: str = normalization_field()
    activation: str = activation_field()
    padding: str = padding_field()


@attrs.frozen
class DownsampleConfig:
    """Stride-2 conv block: halves height and width."""

    in_channels: int = _channels()
    out_channels: int = _channels(6)
    kernel_size: int = _kernel()
    normalization: str = normalization_field()
    activation: str = activation_field()
    padding: str = padding_field()


@attrs.frozen
class UpsampleConfig:
    """Periodic bilinear ×2 upsampling followed by a conv block."""

    in_channels: int = _channels(6)
    out_channels: int = _channels()
    kernel_size: int = _kernel()
    normalization: str = normalization_field()
    activation: str = activation_field()
    padding: str = padding_field()


@attrs.frozen
class SpectralConvConfig:
    """FNO-style spectral convolution on the ``modes`` lowest frequencies (both row-frequency signs)."""

    in_channels: int = _channels()
    out_channels: int = _channels()
    modes: int = _int_field(4)


@attrs.frozen
class AFNOFilterConfig:
    """AFNO token mixer of Guibas et al. (2022): block-diagonal complex MLP on kept modes + soft-shrinkage."""

    channels: int = _channels(8)
    num_blocks: int = _int_field(2)
    modes: int = _int_field(4)
    hidden_factor: float = attrs.field(default=1.0, converter=float, validator=positive)
    sparsity: float = attrs.field(default=0.01, converter=float, validator=non_negative)

    def __attrs_post_init__(self) -> None:
        if self.channels % self.num_blocks:
            raise ValueError(f"'num_blocks' must divide 'channels' ({self.channels}): {self.num_blocks!r}")


@attrs.frozen
class AFNOBlockConfig:
    """Pre-norm AFNO block: ``x + filter(norm(x))`` then ``x + mlp(norm(x))``."""

    channels: int = _channels(8)
    num_blocks: int = _int_field(2)
    modes: int = _int_field(4)
    hidden_factor: float = attrs.field(default=1.0, converter=float, validator=positive)
    sparsity: float = attrs.field(default=0.01, converter=float, validator=non_negative)
    mlp_ratio: float = attrs.field(default=2.0, converter=float, validator=positive)
    activation: str = activation_field()
    normalization: str = normalization_field("layer")

    def __attrs_post_init__(self) -> None:
        if self.channels % self.num_blocks:
            raise ValueError(f"'num_blocks' must divide 'channels' ({self.channels}): {self.num_blocks!r}")
