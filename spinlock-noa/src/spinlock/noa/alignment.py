"""From a trajectory to the frozen tokenizer's latents, differentiably.

The tokenizer (:class:`spinlock.vqvae.tokenizer.Tokenizer`) was trained on a dataset's stored features:
the static families concatenated as ``<family>::<column>`` (its ``cleaner.names``), cleaned by its fitted
:class:`~spinlock.vqvae.cleaning.Cleaner`, and the TEMPORAL family scaled by its
:class:`~spinlock.vqvae.data.TemporalScaler`. To score a *predicted* trajectory in the same space:

1. :class:`FeaturePipeline` computes the same families with the same configs (those of the dataset's
   ``features`` section; a family extracted offline used its defaults) on the prediction, in torch, so
   gradients reach the trajectory. Families that do not read the trajectory (INITIAL reads ``u0``,
   ARCHITECTURE reads θ) are the same for the prediction and the truth and are computed once per operator.
   The columns must equal the tokenizer's, in order: nothing is padded, truncated or reordered (BUG-24).
2. :class:`TorchCleaner` and :class:`TorchTemporalScaler` replay the fitted cleaning and scaling with the
   stored statistics (never batch statistics), differentiably.
3. :class:`TokenizerAlignment` runs the frozen VQ-VAE's encoders (pre-quantisation latents) and reads its
   codebooks (eval mode: nothing in the tokenizer changes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import attrs
import numpy as np
import torch
from torch import nn

from spinlock.core.features import FeatureFamily, FeatureInputs
from spinlock.vqvae.cleaning import Cleaner
from spinlock.vqvae.data import SEPARATOR, TemporalScaler
from spinlock.vqvae.tokenizer import Tokenizer

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def torch_yeo_johnson(u: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """:func:`spinlock.vqvae.cleaning.yeo_johnson` in torch, differentiable in ``u`` ``(batch, columns)``.

    Each branch is evaluated on inputs clamped to its own side, so the branch not taken never produces a NaN
    that would poison the gradient through ``torch.where``.
    """
    pos, neg = u.clamp(min=0.0), u.clamp(max=0.0)
    safe_lam = torch.where(lam == 0, torch.ones_like(lam), lam)
    up = torch.where(lam == 0, torch.log1p(pos), torch.expm1(lam * torch.log1p(pos)) / safe_lam)
    mu = 2.0 - lam
    safe_mu = torch.where(mu == 0, torch.ones_like(mu), mu)
    down = torch.where(mu == 0, -torch.log1p(-neg), -torch.expm1(mu * torch.log1p(-neg)) / safe_mu)
    return torch.where(u >= 0, up, down)


class TorchCleaner(nn.Module):
    """:meth:`Cleaner.transform` in torch: keep columns, impute non-finite values, cap, power-transform,
    normalise.

    ``(batch, D_in)`` → ``(batch, D_kept)`` float32, computed in float64 like the numpy original. Capping is a
    clamp (gradient 1 inside the caps, 0 outside); imputed entries have no gradient. Statistics are buffers
    (they follow ``.to(device)``) and never train.
    """

    kept_index: torch.Tensor
    fill: torch.Tensor
    lower: torch.Tensor
    upper: torch.Tensor
    centre: torch.Tensor
    scale: torch.Tensor
    power_lambda: torch.Tensor
    power_shift: torch.Tensor
    power_scale: torch.Tensor

    def __init__(self, cleaner: Cleaner) -> None:
        super().__init__()
        self.n_features_in = cleaner.n_features_in
        self.register_buffer("kept_index", torch.as_tensor(cleaner.kept_index, dtype=torch.long))
        for name in ("fill", "lower", "upper", "centre", "scale"):
            self.register_buffer(
                name, torch.as_tensor(np.asarray(getattr(cleaner, name)), dtype=torch.float64)
            )
        self.has_power = cleaner.power_lambda is not None
        if self.has_power:
            for name in ("power_lambda", "power_shift", "power_scale"):
                self.register_buffer(
                    name, torch.as_tensor(np.asarray(getattr(cleaner, name)), dtype=torch.float64)
                )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.n_features_in:
            raise ValueError(
                f"the cleaner expects (batch, {self.n_features_in}) features, got {tuple(x.shape)}"
            )
        kept = x.index_select(1, self.kept_index).double()
        kept = torch.where(torch.isfinite(kept), kept, self.fill)
        kept = torch.minimum(torch.maximum(kept, self.lower), self.upper)
        if self.has_power:
            kept = torch_yeo_johnson((kept - self.power_shift) / self.power_scale, self.power_lambda)
        z = (kept - self.centre) / self.scale
        return z.clamp(-_FLOAT32_MAX, _FLOAT32_MAX).float()


class TorchTemporalScaler(nn.Module):
    """:meth:`TemporalScaler.transform` in torch: ``(batch, T, D)`` → scaled float32 (robust scale, cap,
    Yeo–Johnson when fitted, then standardised), non-finite → 0; computed in float64 like the original."""

    centre: torch.Tensor
    scale: torch.Tensor
    shift: torch.Tensor | None
    spread: torch.Tensor | None
    power_lambda: torch.Tensor | None

    def __init__(self, scaler: TemporalScaler) -> None:
        super().__init__()

        def buffer(name: str, value: Any) -> None:
            tensor = None if value is None else torch.as_tensor(np.asarray(value), dtype=torch.float64)
            self.register_buffer(name, tensor)

        buffer("centre", scaler.centre)
        buffer("scale", scaler.scale)
        buffer("shift", scaler.shift)
        buffer("spread", scaler.spread)
        buffer("power_lambda", scaler.power_lambda)
        self.cap = scaler.cap

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[2] != self.centre.shape[0]:
            raise ValueError(f"the scaler expects (batch, T, {self.centre.shape[0]}), got {tuple(x.shape)}")
        finite = torch.isfinite(x)
        u = torch.where(finite, x.double(), torch.zeros_like(x, dtype=torch.float64))
        if self.shift is not None and self.spread is not None:
            u = (u - self.shift) / self.spread
            if self.cap is not None:
                u = u.clamp(-self.cap, self.cap)
            if self.power_lambda is not None:
                u = torch_yeo_johnson(u, self.power_lambda)
        z = (u - self.centre) / self.scale
        return torch.where(finite & torch.isfinite(z), z, torch.zeros_like(z)).float()


@attrs.frozen(eq=False)
class FeaturePipeline:
    """The tokenizer's feature families, configured as the dataset computed them.

    :param static_families: the tokenizer's static families in its column order, name → family.
    :param temporal: the temporal family (name, family), or ``None``.
    :param static_names: the tokenizer's ``cleaner.names`` (``<family>::<column>``), the required order.
    :param temporal_names: the tokenizer's temporal column names.
    :param realizations: ``M`` of the dataset (SUMMARY's columns depend on it).
    :param stride: the dataset's time stride between stored states.
    """

    static_families: Mapping[str, FeatureFamily]
    temporal: tuple[str, FeatureFamily] | None
    static_names: tuple[str, ...]
    temporal_names: tuple[str, ...]
    realizations: int
    stride: int

    @property
    def rollout_families(self) -> tuple[str, ...]:
        """Static families computed from the trajectory (the others are fixed per operator)."""
        return tuple(n for n, f in self.static_families.items() if "trajectory" in f.inputs)

    @property
    def fixed_families(self) -> tuple[str, ...]:
        """Static families that do not read the trajectory (INITIAL, ARCHITECTURE)."""
        return tuple(n for n, f in self.static_families.items() if "trajectory" not in f.inputs)

    def check_columns(self, inputs: FeatureInputs) -> None:
        """Refuse families whose columns (for these shapes) differ from the tokenizer's, in any way."""
        names = [
            f"{name}{SEPARATOR}{column}"
            for name, family in self.static_families.items()
            for column in family.columns(inputs).names
        ]
        if tuple(names) != self.static_names:
            _raise_mismatch("static", names, self.static_names)
        if self.temporal is not None:
            columns = tuple(self.temporal[1].columns(inputs).names)
            if columns != self.temporal_names:
                _raise_mismatch(f"temporal ({self.temporal[0]})", list(columns), self.temporal_names)

    def fixed_features(self, inputs: FeatureInputs) -> torch.Tensor:
        """``(batch, D_fixed)``: the columns of the families that do not read the trajectory, in order."""
        parts = [self.static_families[n].compute(inputs).float() for n in self.fixed_families]
        if not parts:
            return torch.zeros(_batch(inputs), 0)
        return torch.cat(parts, dim=1)

    def features(
        self,
        trajectory: torch.Tensor,
        fixed: torch.Tensor,
        initial_condition: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Raw static ``(batch, D_in)`` (tokenizer column order) and temporal ``(batch, T', D_t)`` features.

        :param trajectory: ``(batch, M, T', C, H, W)`` with the dataset's ``M`` and stride.
        :param fixed: :meth:`fixed_features` of the same operators ``(batch, D_fixed)``.
        :param initial_condition: ``(batch, C, H, W)``, for rollout families that also read it.
        """
        if trajectory.ndim != 6 or trajectory.shape[1] != self.realizations:
            raise ValueError(
                f"features need (batch, {self.realizations}, T', C, H, W) trajectories, "
                f"got {tuple(trajectory.shape)}"
            )
        return self._features(trajectory, fixed, initial_condition)

    def _features(
        self, trajectory: torch.Tensor, fixed: torch.Tensor, initial_condition: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        inputs = FeatureInputs(
            initial_condition=initial_condition, trajectory=trajectory, time_stride=self.stride
        )
        computed = {n: self.static_families[n].compute(inputs) for n in self.rollout_families}
        parts, offset = [], 0
        for name in self.static_families:
            if name in computed:
                parts.append(computed[name].float())
            else:
                width = self._fixed_width(name, fixed, offset)
                parts.append(fixed[:, offset : offset + width].to(trajectory.device))
                offset += width
        static = torch.cat(parts, dim=1)
        temporal = None
        if self.temporal is not None:
            temporal = self.temporal[1].compute(inputs).float()
        return static, temporal

    def _fixed_width(self, name: str, fixed: torch.Tensor, offset: int) -> int:
        prefix = f"{name}{SEPARATOR}"
        width = sum(1 for n in self.static_names if n.startswith(prefix))
        if offset + width > fixed.shape[1]:
            raise ValueError(f"fixed features have {fixed.shape[1]} columns, family {name!r} needs more")
        return width


def _batch(inputs: FeatureInputs) -> int:
    for value in (inputs.initial_condition, inputs.trajectory):
        if value is not None:
            return int(value.shape[0])
    return 0


def _raise_mismatch(what: str, got: Sequence[str], expected: Sequence[str]) -> None:
    missing = [n for n in expected if n not in set(got)][:5]
    extra = [n for n in got if n not in set(expected)][:5]
    detail = f"missing e.g. {missing}, unexpected e.g. {extra}" if missing or extra else "the order differs"
    raise ValueError(
        f"the {what} features computed for the agent do not match the tokenizer's columns "
        f"({len(got)} vs {len(expected)}; {detail}); train the tokenizer on this dataset's features"
    )


def build_feature_pipeline(
    tokenizer: Tokenizer,
    family_builder: Any,
    *,
    realizations: int,
    stride: int,
) -> FeaturePipeline:
    """The tokenizer's families built by ``family_builder(name) → FeatureFamily``.

    :param family_builder: builds a family with the config the dataset used (see
        :func:`spinlock.noa.data.dataset_family_builder`).
    """
    families = tokenizer.config.families
    static = {name: family_builder(name) for name in families.static_families()}
    temporal = None
    if families.temporal is not None:
        if tokenizer.scaler is None:
            raise ValueError("the tokenizer lists a temporal family but has no temporal scaler")
        temporal = (families.temporal, family_builder(families.temporal))
    return FeaturePipeline(
        static_families=static,
        temporal=temporal,
        static_names=tuple(tokenizer.cleaner.names),
        temporal_names=tuple(tokenizer.temporal_names),
        realizations=realizations,
        stride=stride,
    )


class AlignmentOutput(NamedTuple):
    """Latents of a batch of trajectories in the frozen tokenizer.

    :param latents: ``(batch, Σ latent_c)``: every category's pre-quantisation latent, concatenated.
    :param quantized: ``(batch, Σ latent_c)``: the sum of each category's chosen codewords (no gradient).
    :param codes: ``(batch, K, L)`` token ids.
    """

    latents: torch.Tensor
    quantized: torch.Tensor
    codes: torch.Tensor


class TokenizerAlignment(nn.Module):
    """The frozen tokenizer as a differentiable map from features to latents and codes.

    :param tokenizer: a trained tokenizer; its model is put in eval mode and its parameters are frozen
        (``requires_grad=False``). Gradients flow through it to the features, never into it.
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        super().__init__()
        self.cleaner = TorchCleaner(tokenizer.cleaner)
        self.scaler = None if tokenizer.scaler is None else TorchTemporalScaler(tokenizer.scaler)
        self.model = tokenizer.model
        self.model.eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)

    def train(self, mode: bool = True) -> TokenizerAlignment:
        """The tokenizer always stays in eval mode (its quantizers must only read the codebooks)."""
        super().train(mode)
        self.model.eval()
        return self

    def forward(self, static: torch.Tensor, temporal: torch.Tensor | None) -> AlignmentOutput:
        """Raw static ``(batch, D_in)`` and temporal ``(batch, T', D_t)`` features → latents and codes."""
        cleaned = self.cleaner(static)
        scaled = None
        if self.scaler is not None:
            if temporal is None:
                raise ValueError("the tokenizer needs the temporal features")
            scaled = self.scaler(temporal)
        latents = self.model.encode(cleaned, scaled)
        quantized = self.model.quantize(latents)
        words = torch.cat([w.sum(1) for w in quantized.codewords], dim=1).detach()
        return AlignmentOutput(torch.cat(latents, dim=1), words, quantized.codes)
