"""Hyperparameters of the hierarchical VQ-VAE (torch-free, so that registering the tokenizer imports no torch)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

#: names of the levels of the default three-level hierarchy, coarse first
LEVEL_NAMES: tuple[str, ...] = ("coarse", "medium", "fine")
ACTIVATIONS: tuple[str, ...] = ("gelu", "relu", "silu", "tanh")
TEMPORAL_ENCODERS: tuple[str, ...] = ("gru", "conv")


def derived_latent_dim(category_size: int) -> int:
    """The latent dimension of a category of ``category_size`` features when ``latent_dim`` is ``None``:
    about half the category size, rounded up to a multiple of 4, within [4, 32]."""
    return min(32, max(4, 4 * math.ceil(category_size / 8)))


# ---------------------------------------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------------------------------------


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_tuple(value: Iterable[int]) -> tuple[int, ...]:
    return tuple(value)


def _check_codebook_sizes(instance: object, attribute: attrs.Attribute[Any], value: tuple[int, ...]) -> None:
    if not value:
        raise ValueError(f"'{attribute.name}' needs at least one level")
    bad = [size for size in value if not is_int(size) or size < 2]
    if bad:
        raise ValueError(f"'{attribute.name}' must be integers >= 2: {list(value)}")


def _check_hidden_dims(instance: object, attribute: attrs.Attribute[Any], value: tuple[int, ...]) -> None:
    bad = [width for width in value if not is_int(width) or width < 1]
    if bad:
        raise ValueError(f"'{attribute.name}' must be integers >= 1: {list(value)}")


def _check_latent_dim(instance: object, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and (not is_int(value) or value < 1):
        raise ValueError(f"'{attribute.name}' must be an integer >= 1 or None: {value!r}")


def _int_at_least(minimum: int) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
        if not is_int(value) or value < minimum:
            raise ValueError(f"'{attribute.name}' must be an integer >= {minimum}: {value!r}")

    return check


def _check_odd(instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if value % 2 == 0:
        raise ValueError(f"'{attribute.name}' must be odd (same-length convolutions): {value}")


def _one_of(choices: tuple[str, ...]) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
        if value not in choices:
            raise ValueError(f"'{attribute.name}' must be one of {', '.join(map(repr, choices))}: {value!r}")

    return check


_NON_NEGATIVE = attrs.validators.ge(0.0)


@attrs.frozen
class VQVAEConfig:
    """Hyperparameters of :class:`HierarchicalVQVAE`.

    :param codebook_sizes: codes per level, coarse first; one :class:`ResidualQuantizer` level each.
    :param latent_dim: latent (and codeword) dimension of every category; ``None`` derives it from the
        category's size with :func:`derived_latent_dim` (for a TEMPORAL category, from its column count).
    :param hidden_dims: widths of the hidden layers of each category's encoder MLP; the decoder uses them in
        reverse. Empty gives linear encoders and decoders.
    :param activation: nonlinearity of the MLPs and of the convolutional sequence models (``gelu``,
        ``relu``, ``silu``, ``tanh``).
    :param commitment_weight: β of the commitment loss ``β · mean((z_e − sg(z_q))²)`` (encoder side).
    :param ema_decay: decay of the EMA codebook updates, in (0, 1).
    :param ema_eps: Laplace smoothing of the EMA cluster sizes.
    :param dead_code_threshold: EMA cluster size (rows per batch) below which a code is re-seeded from the
        batch; 0 turns revival off.
    :param kmeans_init: initialise every codebook by k-means on its first training batch.
    :param kmeans_iterations: Lloyd iterations of that initialisation.
    :param ema_warmup: EMA decay ``min(ema_decay, (1 + t) / (10 + t))`` at update ``t``, so the codebooks
        keep up with the fast-moving encoder of early training (see :mod:`spinlock.vqvae.quantizer`).
    :param temporal_encoder: ``gru`` (a GRU over time, last state) or ``conv`` (1-D convolutions over time,
        mean over time); the decoder is of the same kind.
    :param temporal_hidden: hidden size of each TEMPORAL category's sequence encoder and decoder.
    :param temporal_layers: GRU layers, or convolution layers.
    :param temporal_kernel_size: kernel size of the convolutions (odd; ``conv`` only).
    :param reconstruction_weight: weight of the static reconstruction MSE.
    :param temporal_weight: weight of the TEMPORAL reconstruction MSE.
    :param orthogonality_weight: weight of the mean squared cross-correlation between the latents of
        different categories (0: not computed).
    :param prefix_reconstruction_weight: weight of the reconstruction loss from each strict prefix of the
        levels (coarse alone, coarse + medium, …; same decoders, mean over prefixes), so the coarse tokens are
        the best one-level description on their own rather than a part that only makes sense with the finer
        ones. 0 turns it off.
    """

    codebook_sizes: tuple[int, ...] = attrs.field(
        default=(24, 24, 24), converter=_int_tuple, validator=_check_codebook_sizes
    )
    latent_dim: int | None = attrs.field(default=None, validator=_check_latent_dim)
    hidden_dims: tuple[int, ...] = attrs.field(
        default=(128, 128), converter=_int_tuple, validator=_check_hidden_dims
    )
    activation: str = attrs.field(default="gelu", validator=_one_of(ACTIVATIONS))
    commitment_weight: float = attrs.field(default=0.25, validator=_NON_NEGATIVE)
    ema_decay: float = attrs.field(
        default=0.99, validator=[attrs.validators.gt(0.0), attrs.validators.lt(1.0)]
    )
    ema_eps: float = attrs.field(default=1e-5, validator=attrs.validators.gt(0.0))
    dead_code_threshold: float = attrs.field(default=1.0, validator=_NON_NEGATIVE)
    kmeans_init: bool = True
    kmeans_iterations: int = attrs.field(default=10, validator=_int_at_least(0))
    ema_warmup: bool = True
    temporal_encoder: str = attrs.field(default="gru", validator=_one_of(TEMPORAL_ENCODERS))
    temporal_hidden: int = attrs.field(default=16, validator=_int_at_least(1))
    temporal_layers: int = attrs.field(default=1, validator=_int_at_least(1))
    temporal_kernel_size: int = attrs.field(default=5, validator=[_int_at_least(1), _check_odd])
    reconstruction_weight: float = attrs.field(default=1.0, validator=_NON_NEGATIVE)
    temporal_weight: float = attrs.field(default=1.0, validator=_NON_NEGATIVE)
    orthogonality_weight: float = attrs.field(default=0.0, validator=_NON_NEGATIVE)
    prefix_reconstruction_weight: float = attrs.field(default=1.0, validator=_NON_NEGATIVE)

    @property
    def n_levels(self) -> int:
        return len(self.codebook_sizes)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (tuples become lists), accepted back by :meth:`from_dict`."""
        return {
            field.name: list(value) if isinstance(value, tuple) else value
            for field in attrs.fields(type(self))
            for value in (getattr(self, field.name),)
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VQVAEConfig:
        """The config of :meth:`to_dict`'s output; unknown keys are a ``ValueError`` naming them."""
        known = {field.name for field in attrs.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown VQVAEConfig keys {unknown}; known: {sorted(known)}")
        return cls(**data)
