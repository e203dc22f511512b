"""The agent's loss: ``L = λ_traj·L_traj + λ_latent·L_latent + λ_commit·L_commit``.

- ``L_traj``: mean squared error between predicted and target stored states after ``u0`` (frame 0 is ``u0``
  on both sides). With ``trajectory_scale: per_sample`` each sample's and channel's error is divided by the
  squared rms of its target trajectory (a relative MSE, so every operator counts whatever its amplitude).
- ``L_latent``: mean squared error between the frozen tokenizer's pre-quantisation latents (all categories
  concatenated) of the predicted and of the target trajectory. Both go through the same differentiable
  features, cleaning and scaling (:mod:`spinlock.noa.alignment`); the target's are precomputed.
- ``L_commit``: ``mean((z_pred − sg(q(z_pred)))²)``, with ``q`` the sum of each category's chosen codewords
  (all levels) of the frozen codebooks: the prediction should land where the tokenizer has codes.

No projector is involved: the latents come from the tokenizer's own trained encoders, applied to features
of the predicted rollout, so there is nothing untrained in the loss (the reference's projector was never
optimised, BUG-24).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from spinlock.noa.alignment import FeaturePipeline, TokenizerAlignment
from spinlock.noa.config import LossConfig
from spinlock.noa.data import as_ensemble


class LossTerms(NamedTuple):
    """Scalar terms of one batch; a term whose weight is 0 is not computed and is a zero tensor."""

    total: torch.Tensor
    trajectory: torch.Tensor
    latent: torch.Tensor
    commitment: torch.Tensor

    def as_floats(self) -> dict[str, float]:
        """``{"total": ..., "trajectory": ..., "latent": ..., "commitment": ...}``."""
        return {k: float(v.detach()) for k, v in self._asdict().items()}


def trajectory_error(
    prediction: torch.Tensor, target: torch.Tensor, scale: torch.Tensor | None = None
) -> torch.Tensor:
    """MSE over frames ``1 …`` of ``(batch, T', C, H, W)`` tensors; with ``scale (batch, C)`` the error of
    each sample and channel is divided by ``scale²`` first."""
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ")
    diff = prediction[:, 1:] - target[:, 1:]
    if scale is not None:
        diff = diff / scale[:, None, :, None, None]
    return diff.pow(2).mean()


class NOALoss:
    """Computes :class:`LossTerms` for a batch of predictions.

    :param config: the weights and the trajectory scaling.
    :param pipeline: the tokenizer's feature families (``None`` when both tokenizer weights are 0).
    :param alignment: the frozen tokenizer (``None`` likewise).
    :param realizations: ``M`` of the dataset (the prediction enters the features as M identical
        realizations, see :mod:`spinlock.noa.data`).
    """

    def __init__(
        self,
        config: LossConfig,
        pipeline: FeaturePipeline | None = None,
        alignment: TokenizerAlignment | None = None,
        *,
        realizations: int = 1,
    ) -> None:
        if config.uses_tokenizer and (pipeline is None or alignment is None):
            raise ValueError("latent and commitment terms need the tokenizer's feature pipeline and model")
        self.config = config
        self.pipeline = pipeline
        self.alignment = alignment
        self.realizations = realizations

    def __call__(
        self,
        prediction: torch.Tensor,
        target: torch.Tensor,
        *,
        scale: torch.Tensor | None = None,
        fixed: torch.Tensor | None = None,
        target_latents: torch.Tensor | None = None,
    ) -> LossTerms:
        """Loss terms of ``prediction`` against ``target`` (both ``(batch, T', C, H, W)``).

        :param scale: ``(batch, C)`` per-sample scales (used with ``trajectory_scale: per_sample``).
        :param fixed: ``(batch, D_fixed)`` rollout-independent tokenizer columns (tokenizer terms).
        :param target_latents: ``(batch, Z)`` latents of the target (the latent term).
        """
        cfg = self.config
        zero = prediction.new_zeros(())
        trajectory = zero
        if cfg.trajectory_weight > 0:
            use_scale = scale if cfg.trajectory_scale == "per_sample" else None
            if cfg.trajectory_scale == "per_sample" and scale is None:
                raise ValueError("trajectory_scale 'per_sample' needs the per-sample scales")
            trajectory = trajectory_error(prediction, target, use_scale)
        latent, commitment = zero, zero
        if cfg.uses_tokenizer:
            assert self.pipeline is not None and self.alignment is not None
            if fixed is None:
                raise ValueError("the tokenizer terms need the rollout-independent features ('fixed')")
            ensemble = as_ensemble(prediction, self.realizations)
            static, temporal = self.pipeline.features(ensemble, fixed, prediction[:, 0])
            out = self.alignment(static, temporal)
            if cfg.latent_weight > 0:
                if target_latents is None:
                    raise ValueError("the latent term needs the target latents")
                latent = F.mse_loss(out.latents, target_latents)
            if cfg.commitment_weight > 0:
                commitment = F.mse_loss(out.latents, out.quantized)
        total = (
            cfg.trajectory_weight * trajectory
            + cfg.latent_weight * latent
            + cfg.commitment_weight * commitment
        )
        return LossTerms(total, trajectory, latent, commitment)
