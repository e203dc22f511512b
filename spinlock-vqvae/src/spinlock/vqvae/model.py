"""The hierarchical VQ-VAE: per-category encoders, residual quantizers and decoders.

The static feature vector ``(batch, D_static)`` is partitioned into categories (lists of column indices, from
category discovery). Each category has its own encoder MLP, its own :class:`ResidualQuantizer` (coarse →
medium → fine by default) and its own decoder MLP, so category ``c``'s tokens describe only its own columns.
An optional TEMPORAL input ``(batch, time, D_temporal)`` is partitioned the same way into TEMPORAL categories
(one, ``"temporal"``, unless a partition is given), placed after the static ones; each has its own learned
sequence encoder (GRU or 1-D convolution over time), quantizer and sequence decoder
(:mod:`spinlock.vqvae.sequence`, which runs all TEMPORAL categories together).

**Time length.** Both sequence encoders end in a reduction over time (the GRU's last state, or a mean over
time after the convolutions), and both decoders are driven by the latent repeated at every step plus the
normalised time ``t / (T − 1)`` in [0, 1]; so the model takes any ``T >= 1``, fixed within a batch, and
reconstructs as many steps as it was given. A model trained on one ``T`` is meant to be used with that ``T``.

**Inputs** are expected normalised per column (the preprocessing does that); the model does not rescale.

**Saving.** ``torch.save(model.state_dict(), path)`` holds everything learned and the column partition (as
buffers); ``HierarchicalVQVAE.from_constructor_args(model.constructor_args())`` rebuilds an empty model from
plain ints, lists and dicts, and ``load_state_dict(torch.load(path, weights_only=True))`` fills it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import nn

from spinlock.vqvae.model_config import (
    ACTIVATIONS,
    LEVEL_NAMES,
    TEMPORAL_ENCODERS,
    VQVAEConfig,
    derived_latent_dim,
    is_int,
)
from spinlock.vqvae.quantizer import ResidualQuantizer
from spinlock.vqvae.sequence import (
    GroupedConvDecoder,
    GroupedConvEncoder,
    GroupedGRUDecoder,
    GroupedGRUEncoder,
    activation_module,
)

__all__ = [
    "ACTIVATIONS",
    "LEVEL_NAMES",
    "TEMPORAL_ENCODERS",
    "HierarchicalVQVAE",
    "QuantizeOutput",
    "VQVAEConfig",
    "VQVAELosses",
    "VQVAEOutput",
    "derived_latent_dim",
]

# ---------------------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------------------


class QuantizeOutput(NamedTuple):
    """What :meth:`HierarchicalVQVAE.quantize` returns (``n`` categories, ``L`` levels).

    :param quantized: one ``(batch, latent_c)`` tensor per category: the sum of its levels' codewords, with
        the straight-through gradient of the latent.
    :param codes: ``(batch, n, L)`` long.
    :param commitment_loss: scalar, summed over categories and levels (unweighted by category; the
        training loss weighs each category's term, see :attr:`HierarchicalVQVAE.category_loss_weights`).
    :param category_commitment: ``(n,)`` each category's commitment loss, summed over its levels.
    :param perplexity: ``(n, L)`` batch perplexity of each codebook (no gradient).
    :param codewords: one ``(batch, L, latent_c)`` tensor per category: the codeword chosen at each level
        (no gradient).
    """

    quantized: tuple[torch.Tensor, ...]
    codes: torch.Tensor
    commitment_loss: torch.Tensor
    category_commitment: torch.Tensor
    perplexity: torch.Tensor
    codewords: tuple[torch.Tensor, ...]


class VQVAELosses(NamedTuple):
    """Scalar losses of one forward pass; a term that does not apply is a zero tensor.

    :param total: ``reconstruction_weight · reconstruction + temporal_weight · temporal_reconstruction +
        commitment + prefix_reconstruction_weight · prefix_reconstruction + orthogonality_weight ·
        orthogonality`` (β is inside ``commitment``).
    :param reconstruction: MSE over all static entries ``(batch, D_static)``.
    :param temporal_reconstruction: MSE over all TEMPORAL entries ``(batch, time, D_temporal)``.
    :param commitment: summed over categories and levels, already weighted by β.
    :param prefix_reconstruction: mean over the strict prefixes of the levels (coarse alone, coarse +
        medium, …) of the weighted reconstruction error decoded from that prefix (computed only when its
        weight is positive).
    :param orthogonality: mean squared cross-correlation between latents of different categories (computed
        only when its weight is positive).
    :param objective: the weighted reconstruction terms alone (``total`` without commitment and
        orthogonality): what early stopping and the best checkpoint monitor. The commitment loss is a
        regulariser in latent units that grows as the latents spread out while the reconstructions still
        improve, so monitoring ``total`` stopped training early (docs/vqvae.md).
    """

    total: torch.Tensor
    reconstruction: torch.Tensor
    temporal_reconstruction: torch.Tensor
    commitment: torch.Tensor
    prefix_reconstruction: torch.Tensor
    orthogonality: torch.Tensor
    objective: torch.Tensor


class VQVAEOutput(NamedTuple):
    """What :meth:`HierarchicalVQVAE.forward` returns (``n`` categories, ``L`` levels).

    :param static_reconstruction: ``(batch, D_static)`` in the input's column order, or ``None`` without
        static categories.
    :param temporal_reconstruction: ``(batch, time, D_temporal)``, or ``None`` without TEMPORAL.
    :param codes: ``(batch, n, L)`` long, static categories first, then the TEMPORAL ones.
    :param latents: one pre-quantisation ``(batch, latent_c)`` tensor per category.
    :param quantized: one straight-through quantised ``(batch, latent_c)`` tensor per category.
    :param perplexity: ``(n, L)`` batch perplexity of each codebook.
    :param losses: see :class:`VQVAELosses`.
    """

    static_reconstruction: torch.Tensor | None
    temporal_reconstruction: torch.Tensor | None
    codes: torch.Tensor
    latents: tuple[torch.Tensor, ...]
    quantized: tuple[torch.Tensor, ...]
    perplexity: torch.Tensor
    losses: VQVAELosses


# ---------------------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------------------


def _mlp(in_features: int, hidden: Sequence[int], out_features: int, activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = in_features
    for size in hidden:
        layers += [nn.Linear(width, size), activation_module(activation)]
        width = size
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


def _check_categories(categories: Sequence[Sequence[int]], what: str = "static") -> list[list[int]]:
    """Plain int lists that partition ``0 … D − 1`` (``D`` the number of listed columns); a ``ValueError``
    naming the problem otherwise. ``what`` names the columns in the messages."""
    result: list[list[int]] = []
    for position, category in enumerate(categories):
        columns = [int(column) for column in category]
        if not columns:
            raise ValueError(f"{what} category {position} has no columns")
        result.append(columns)
    flat = [column for columns in result for column in columns]
    duplicates = sorted(column for column, count in Counter(flat).items() if count > 1)
    if duplicates:
        raise ValueError(f"columns {duplicates} belong to more than one category (or repeat within one)")
    seen = set(flat)
    expected = set(range(len(flat)))
    if seen != expected:
        outside = sorted(seen - expected)
        missing = sorted(expected - seen)
        raise ValueError(
            f"categories must partition the {what} columns 0..{len(flat) - 1}: "
            f"missing {missing}, out of range {outside}"
        )
    return result


def _standardise(z: torch.Tensor) -> torch.Tensor:
    centred = z - z.mean(0, keepdim=True)
    return centred / centred.pow(2).mean(0, keepdim=True).add(1e-8).sqrt()


# ---------------------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------------------


class HierarchicalVQVAE(nn.Module):
    """Per-category encoders, residual quantizers and decoders over static (and TEMPORAL) features.

    :param categories: the static categories, each a list of column indices of the static feature matrix
        ``(batch, D_static)``; together they must partition ``0 … D_static − 1``. The columns of a category
        enter its encoder in the listed order. May be empty when ``temporal_dim`` is given.
    :param temporal_dim: ``D_temporal`` of the TEMPORAL input ``(batch, time, D_temporal)``; ``None`` for a
        static-only model.
    :param config: hyperparameters (default :class:`VQVAEConfig`).
    :param temporal_categories: the TEMPORAL categories, each a list of column indices of the TEMPORAL input;
        together they must partition ``0 … D_temporal − 1``. Each has its own sequence encoder, quantizer and
        sequence decoder (computed together, see :mod:`spinlock.vqvae.sequence`) and comes after the static
        categories. ``None``: one category of all TEMPORAL columns.

    Buffers ``category_columns`` (the concatenated index lists) and ``category_offsets`` (where each
    category starts in it, plus the total), and ``temporal_columns`` / ``temporal_offsets`` likewise, put the
    partitions in the state dict; loading a state dict made for other partitions is a ``ValueError``.
    """

    category_columns: torch.Tensor
    category_offsets: torch.Tensor
    temporal_columns: torch.Tensor
    temporal_offsets: torch.Tensor
    category_loss_weights: torch.Tensor
    _inverse_columns: torch.Tensor

    def __init__(
        self,
        categories: Sequence[Sequence[int]],
        temporal_dim: int | None = None,
        config: VQVAEConfig | None = None,
        temporal_categories: Sequence[Sequence[int]] | None = None,
    ) -> None:
        super().__init__()
        self.config = config if config is not None else VQVAEConfig()
        self.categories: tuple[tuple[int, ...], ...] = tuple(
            tuple(columns) for columns in _check_categories(categories)
        )
        if temporal_dim is not None and (not is_int(temporal_dim) or temporal_dim < 1):
            raise ValueError(f"'temporal_dim' must be an integer >= 1 or None: {temporal_dim!r}")
        if not self.categories and temporal_dim is None:
            raise ValueError("HierarchicalVQVAE needs at least one static category or a temporal_dim")
        self.temporal_dim = temporal_dim
        self.temporal_categories: tuple[tuple[int, ...], ...] = ()
        if temporal_dim is not None:
            groups = [list(range(temporal_dim))] if temporal_categories is None else temporal_categories
            self.temporal_categories = tuple(
                tuple(columns) for columns in _check_categories(groups, "temporal")
            )
            listed = sum(len(columns) for columns in self.temporal_categories)
            if listed != temporal_dim:
                raise ValueError(
                    f"temporal categories must partition the temporal columns 0..{temporal_dim - 1}: "
                    f"they hold {listed} columns"
                )
        elif temporal_categories is not None:
            raise ValueError("'temporal_categories' were given without a 'temporal_dim'")
        self.category_sizes: tuple[int, ...] = tuple(len(columns) for columns in self.categories)
        self.temporal_sizes: tuple[int, ...] = tuple(len(columns) for columns in self.temporal_categories)
        self.static_dim = sum(self.category_sizes)

        cfg = self.config
        self.latent_dims: tuple[int, ...] = tuple(
            cfg.latent_dim if cfg.latent_dim is not None else derived_latent_dim(size)
            for size in (*self.category_sizes, *self.temporal_sizes)
        )

        self._expected_partitions: dict[str, list[int]] = {}
        for prefix, partition in (("category", self.categories), ("temporal", self.temporal_categories)):
            flat = [column for columns in partition for column in columns]
            offsets = [0]
            for columns in partition:
                offsets.append(offsets[-1] + len(columns))
            self._expected_partitions[f"{prefix}_columns"] = flat
            self._expected_partitions[f"{prefix}_offsets"] = offsets
            self.register_buffer(f"{prefix}_columns", torch.tensor(flat, dtype=torch.long))
            self.register_buffer(f"{prefix}_offsets", torch.tensor(offsets, dtype=torch.long))
        flat = self._expected_partitions["category_columns"]
        inverse = torch.empty(len(flat), dtype=torch.long)
        inverse[torch.tensor(flat, dtype=torch.long)] = torch.arange(len(flat))
        self.register_buffer("_inverse_columns", inverse, persistent=False)

        self.static_encoders = nn.ModuleList(
            _mlp(size, cfg.hidden_dims, latent, cfg.activation)
            for size, latent in zip(
                self.category_sizes, self.latent_dims[: len(self.categories)], strict=True
            )
        )
        self.static_decoders = nn.ModuleList(
            _mlp(latent, tuple(reversed(cfg.hidden_dims)), size, cfg.activation)
            for size, latent in zip(
                self.category_sizes, self.latent_dims[: len(self.categories)], strict=True
            )
        )
        self.temporal_encoder: nn.Module | None = None
        self.temporal_decoder: nn.Module | None = None
        if temporal_dim is not None:
            groups = self.temporal_categories
            latents = self.latent_dims[len(self.categories) :]
            hidden, layers = cfg.temporal_hidden, cfg.temporal_layers
            if cfg.temporal_encoder == "gru":
                self.temporal_encoder = GroupedGRUEncoder(groups, temporal_dim, hidden, latents, layers)
                self.temporal_decoder = GroupedGRUDecoder(groups, temporal_dim, hidden, latents, layers)
            else:
                conv = (layers, cfg.temporal_kernel_size, cfg.activation)
                self.temporal_encoder = GroupedConvEncoder(groups, temporal_dim, hidden, latents, *conv)
                self.temporal_decoder = GroupedConvDecoder(groups, temporal_dim, hidden, latents, *conv)
        self.quantizers = nn.ModuleList(
            ResidualQuantizer(
                cfg.codebook_sizes,
                latent,
                commitment_weight=cfg.commitment_weight,
                decay=cfg.ema_decay,
                eps=cfg.ema_eps,
                dead_code_threshold=cfg.dead_code_threshold,
                kmeans_init=cfg.kmeans_init,
                kmeans_iterations=cfg.kmeans_iterations,
                ema_warmup=cfg.ema_warmup,
            )
            for latent in self.latent_dims
        )
        # Each category's commitment term gets the weight its reconstruction has in the loss (static
        # category c: reconstruction_weight · size_c / D_static, since the static MSE is a mean over all
        # columns; TEMPORAL category c: temporal_weight · size_c / D_temporal likewise), so every category
        # trades reconstruction against commitment as it would alone. An unweighted sum made β act as
        # β · D_static / size_c on a small category: 12.6 instead of 0.25 for 11 of 555 columns, pinning its
        # encoder to the codebook.
        weights = [cfg.reconstruction_weight * size / max(self.static_dim, 1) for size in self.category_sizes]
        weights += [cfg.temporal_weight * size / max(temporal_dim or 1, 1) for size in self.temporal_sizes]
        self.register_buffer(
            "category_loss_weights", torch.tensor(weights, dtype=torch.float32), persistent=False
        )
        self.register_load_state_dict_pre_hook(self._check_partition_on_load)

    # -- description -------------------------------------------------------------------------------------

    @property
    def n_categories(self) -> int:
        """Static categories plus TEMPORAL categories."""
        return len(self.latent_dims)

    @property
    def n_levels(self) -> int:
        return self.config.n_levels

    @property
    def category_names(self) -> tuple[str, ...]:
        """``category_0``, … for the static categories, then ``temporal`` for a single TEMPORAL category or
        ``temporal_0``, … for several."""
        names = [f"category_{index}" for index in range(len(self.categories))]
        if len(self.temporal_categories) == 1:
            return (*names, "temporal")
        return (*names, *(f"temporal_{index}" for index in range(len(self.temporal_categories))))

    @property
    def residual_quantizers(self) -> list[ResidualQuantizer]:
        """One per category, in category order."""
        return [cast(ResidualQuantizer, quantizer) for quantizer in self.quantizers]

    def constructor_args(self) -> dict[str, Any]:
        """``{"categories", "temporal_dim", "config", "temporal_categories"}`` as plain lists, ints and dicts
        (JSON- and YAML-safe), accepted by :meth:`from_constructor_args`."""
        return {
            "categories": [list(columns) for columns in self.categories],
            "temporal_dim": self.temporal_dim,
            "config": self.config.to_dict(),
            "temporal_categories": [list(columns) for columns in self.temporal_categories] or None,
        }

    @classmethod
    def from_constructor_args(cls, args: Mapping[str, Any]) -> HierarchicalVQVAE:
        """A freshly initialised model from :meth:`constructor_args`' output (load the state dict next)."""
        known = {"categories", "temporal_dim", "config", "temporal_categories"}
        unknown = sorted(set(args) - known)
        if unknown or "categories" not in args:
            raise ValueError(
                "constructor args need 'categories' and may have 'temporal_dim', 'config', "
                f"'temporal_categories'; got keys {sorted(args)}"
            )
        config_data = args.get("config")
        config = VQVAEConfig.from_dict(config_data) if config_data is not None else None
        return cls(args["categories"], args.get("temporal_dim"), config, args.get("temporal_categories"))

    def _check_partition_on_load(
        self,
        module: nn.Module,
        state_dict: Mapping[str, Any],
        prefix: str,
        local_metadata: Any,
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        for name, expected in self._expected_partitions.items():
            stored = state_dict.get(prefix + name)
            if stored is not None and stored.tolist() != expected:
                raise ValueError(
                    f"state dict was made for another category partition ('{name}' differs): rebuild the "
                    "model from the constructor args saved with it"
                )

    # -- pipeline ----------------------------------------------------------------------------------------

    def _check_inputs(
        self, static: torch.Tensor | None, temporal: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The inputs checked against the model; ``static`` becomes ``None`` for a model without static
        categories."""
        batch: int | None = None
        if self.categories:
            if static is None:
                raise ValueError(
                    f"this model has static categories: 'static' (batch, {self.static_dim}) is required"
                )
            if static.ndim != 2 or static.shape[1] != self.static_dim:
                raise ValueError(
                    f"'static' must have shape (batch, {self.static_dim}), got {tuple(static.shape)}"
                )
            if not static.is_floating_point():
                raise ValueError(f"'static' must be a floating-point tensor, got {static.dtype}")
            batch = static.shape[0]
        elif static is not None and static.numel() > 0:
            raise ValueError("this model has no static categories, but 'static' has entries")
        else:
            static = None
        if self.temporal_dim is not None:
            if temporal is None:
                raise ValueError(
                    "this model has a temporal category: "
                    f"'temporal' (batch, time, {self.temporal_dim}) is required"
                )
            if temporal.ndim != 3 or temporal.shape[2] != self.temporal_dim or temporal.shape[1] < 1:
                raise ValueError(
                    f"'temporal' must have shape (batch, time >= 1, {self.temporal_dim}), "
                    f"got {tuple(temporal.shape)}"
                )
            if not temporal.is_floating_point():
                raise ValueError(f"'temporal' must be a floating-point tensor, got {temporal.dtype}")
            if batch is not None and temporal.shape[0] != batch:
                raise ValueError(
                    f"'static' and 'temporal' disagree on the batch size: {batch} and {temporal.shape[0]}"
                )
            batch = temporal.shape[0]
        elif temporal is not None:
            raise ValueError(
                "this model has no temporal category (temporal_dim=None), but 'temporal' was given"
            )
        if batch == 0:
            raise ValueError("empty batch")
        return static, temporal

    def _static_parts(self, static: torch.Tensor) -> list[torch.Tensor]:
        """The columns of each category, ``(batch, size_c)`` each, in the category's order."""
        gathered = static.index_select(1, self.category_columns)
        return list(torch.split(gathered, list(self.category_sizes), dim=1))

    def encode(
        self, static: torch.Tensor | None, temporal: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """Pre-quantisation latents: one ``(batch, latent_c)`` tensor per category, static categories first.

        :param static: ``(batch, D_static)``; ``None`` only for a model without static categories.
        :param temporal: ``(batch, time, D_temporal)``; required iff the model has ``temporal_dim``.
        """
        static, temporal = self._check_inputs(static, temporal)
        return self._encode(static, temporal)

    def _encode(self, static: torch.Tensor | None, temporal: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        latents: list[torch.Tensor] = []
        if static is not None:
            latents += [
                encoder(part)
                for encoder, part in zip(self.static_encoders, self._static_parts(static), strict=True)
            ]
        if self.temporal_encoder is not None and temporal is not None:
            latents += self.temporal_encoder(temporal)
        return tuple(latents)

    def quantize(self, latents: Sequence[torch.Tensor]) -> QuantizeOutput:
        """Quantise one ``(batch, latent_c)`` latent per category with that category's residual quantizer.

        In training mode this updates the codebooks (EMA, k-means initialisation, dead-code revival); call
        it in eval mode to only read them (e.g. for a latent-alignment loss against a frozen model).
        """
        if len(latents) != self.n_categories:
            raise ValueError(f"need {self.n_categories} latents (one per category), got {len(latents)}")
        for index, (latent, dim) in enumerate(zip(latents, self.latent_dims, strict=True)):
            if latent.ndim != 2 or latent.shape[1] != dim:
                raise ValueError(f"latent {index} must have shape (batch, {dim}), got {tuple(latent.shape)}")
        outputs = [
            quantizer(latent) for quantizer, latent in zip(self.residual_quantizers, latents, strict=True)
        ]
        category_commitment = torch.stack([out.commitment_loss for out in outputs])
        return QuantizeOutput(
            quantized=tuple(out.quantized for out in outputs),
            codes=torch.stack([out.codes for out in outputs], 1),
            commitment_loss=category_commitment.sum(),
            category_commitment=category_commitment,
            perplexity=torch.stack([out.perplexity for out in outputs]),
            codewords=tuple(out.codewords for out in outputs),
        )

    def decode(
        self, quantized: Sequence[torch.Tensor], time_steps: int | None = None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Reconstructions from one ``(batch, latent_c)`` vector per category.

        :param time_steps: ``T`` of the TEMPORAL reconstruction; required iff the model has ``temporal_dim``.
        :returns: static ``(batch, D_static)`` in the input's column order (or ``None``), and TEMPORAL
            ``(batch, T, D_temporal)`` (or ``None``).
        """
        if len(quantized) != self.n_categories:
            raise ValueError(f"need {self.n_categories} vectors (one per category), got {len(quantized)}")
        static_reconstruction = None
        if self.categories:
            parts = [
                decoder(vector)
                for decoder, vector in zip(
                    self.static_decoders, quantized[: len(self.categories)], strict=True
                )
            ]
            static_reconstruction = torch.cat(parts, 1).index_select(1, self._inverse_columns)
        temporal_reconstruction = None
        if self.temporal_decoder is not None:
            if time_steps is None or time_steps < 1:
                raise ValueError(
                    f"'time_steps' >= 1 is required to decode the temporal category: {time_steps}"
                )
            temporal_reconstruction = self.temporal_decoder(quantized[len(self.categories) :], time_steps)
        return static_reconstruction, temporal_reconstruction

    def decode_codes(
        self, codes: torch.Tensor, time_steps: int | None = None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Reconstructions from tokens ``(batch, n_categories, n_levels)``; see :meth:`decode`."""
        if codes.ndim != 3 or tuple(codes.shape[1:]) != (self.n_categories, self.n_levels):
            raise ValueError(
                f"codes must have shape (batch, {self.n_categories}, {self.n_levels}), "
                f"got {tuple(codes.shape)}"
            )
        vectors = [
            quantizer.decode_codes(codes[:, index])
            for index, quantizer in enumerate(self.residual_quantizers)
        ]
        return self.decode(vectors, time_steps)

    def forward(self, static: torch.Tensor | None, temporal: torch.Tensor | None = None) -> VQVAEOutput:
        """Encode, quantise, decode and score a batch.

        :param static: ``(batch, D_static)``, normalised columns; ``None`` only without static categories.
        :param temporal: ``(batch, time, D_temporal)``; required iff the model has ``temporal_dim``.
        """
        static, temporal = self._check_inputs(static, temporal)
        latents = self._encode(static, temporal)
        quantized = self.quantize(latents)
        time_steps = temporal.shape[1] if temporal is not None else None
        static_rec, temporal_rec = self.decode(quantized.quantized, time_steps)

        cfg = self.config
        zero = latents[0].new_zeros(())
        reconstruction, temporal_loss = self._reconstruction_errors(
            static_rec, temporal_rec, static, temporal
        )
        orthogonality = self.orthogonality_loss(latents) if cfg.orthogonality_weight > 0 else zero
        commitment = (
            self.category_loss_weights.to(quantized.category_commitment) * quantized.category_commitment
        ).sum()
        prefix = (
            self._prefix_reconstruction_loss(latents, quantized.codewords, static, temporal)
            if cfg.prefix_reconstruction_weight > 0 and self.n_levels > 1
            else zero
        )
        objective = (
            cfg.reconstruction_weight * reconstruction
            + cfg.temporal_weight * temporal_loss
            + cfg.prefix_reconstruction_weight * prefix
        )
        total = objective + commitment + cfg.orthogonality_weight * orthogonality
        return VQVAEOutput(
            static_reconstruction=static_rec,
            temporal_reconstruction=temporal_rec,
            codes=quantized.codes,
            latents=latents,
            quantized=quantized.quantized,
            perplexity=quantized.perplexity,
            losses=VQVAELosses(
                total=total,
                reconstruction=reconstruction,
                temporal_reconstruction=temporal_loss,
                commitment=commitment,
                prefix_reconstruction=prefix,
                orthogonality=orthogonality,
                objective=objective,
            ),
        )

    def _reconstruction_errors(
        self,
        static_rec: torch.Tensor | None,
        temporal_rec: torch.Tensor | None,
        static: torch.Tensor | None,
        temporal: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Static and TEMPORAL MSE (a zero tensor for a part the model does not have)."""
        reference = static_rec if static_rec is not None else temporal_rec
        assert reference is not None
        zero = reference.new_zeros(())
        static_mse = F.mse_loss(static_rec, static) if static_rec is not None and static is not None else zero
        temporal_mse = (
            F.mse_loss(temporal_rec, temporal) if temporal_rec is not None and temporal is not None else zero
        )
        return static_mse, temporal_mse

    def _prefix_reconstruction_loss(
        self,
        latents: Sequence[torch.Tensor],
        codewords: Sequence[torch.Tensor],
        static: torch.Tensor | None,
        temporal: torch.Tensor | None,
    ) -> torch.Tensor:
        """Mean over depths ``1 … L−1`` of the weighted reconstruction error when every category is decoded
        from the sum of its first ``depth`` codewords (straight-through, so the encoder learns from it
        too)."""
        cfg = self.config
        time_steps = temporal.shape[1] if temporal is not None else None
        terms = []
        for depth in range(1, self.n_levels):
            vectors = tuple(  # a tuple like quantize's output: a compiled decode then needs no second graph
                z + (words[:, :depth].sum(1) - z).detach()
                for z, words in zip(latents, codewords, strict=True)
            )
            static_rec, temporal_rec = self.decode(vectors, time_steps)
            static_mse, temporal_mse = self._reconstruction_errors(static_rec, temporal_rec, static, temporal)
            terms.append(cfg.reconstruction_weight * static_mse + cfg.temporal_weight * temporal_mse)
        return torch.stack(terms).mean()

    @staticmethod
    def orthogonality_loss(latents: Sequence[torch.Tensor]) -> torch.Tensor:
        """Mean over category pairs of the mean squared cross-correlation between their latents
        (each ``(batch, latent_c)``, standardised over the batch); 0 with one category or one row."""
        if len(latents) < 2 or latents[0].shape[0] < 2:
            return latents[0].new_zeros(())
        standardised = [_standardise(latent) for latent in latents]
        batch = latents[0].shape[0]
        terms = [
            ((standardised[i].T @ standardised[j]) / batch).pow(2).mean()
            for i in range(len(latents))
            for j in range(i + 1, len(latents))
        ]
        return torch.stack(terms).mean()

    def compile_networks(self, **options: Any) -> None:
        """Run the encoder and decoder passes through ``torch.compile`` (``dynamic=True`` by default).

        Only the networks are compiled, each pass as one graph over all categories: the quantizers stay
        eager, because their k-means start and dead-code revival have data-dependent shapes and each
        category's latent width would recompile the same code (compiling the whole model hit dynamo's
        recompile limit and ran 8× slower on an H200). Parameters and ``state_dict`` are unchanged.
        """
        options.setdefault("dynamic", True)
        self._encode = torch.compile(self._encode, **options)  # type: ignore[method-assign]
        self.decode = torch.compile(self.decode, **options)  # type: ignore[method-assign]

    def eager_networks(self) -> None:
        """Undo :meth:`compile_networks` (the compiled callables are dropped)."""
        for name in ("_encode", "decode"):
            self.__dict__.pop(name, None)

    @torch.no_grad()
    def tokenize(self, static: torch.Tensor | None, temporal: torch.Tensor | None = None) -> torch.Tensor:
        """Tokens ``(batch, n_categories, n_levels)`` (long), computed in eval mode without touching the
        codebooks; the module's training flag is restored afterwards."""
        was_training = self.training
        self.eval()
        try:
            static, temporal = self._check_inputs(static, temporal)
            return self.quantize(self._encode(static, temporal)).codes
        finally:
            self.train(was_training)
