"""The ``train-noa`` config (torch-free, so that registering the agent imports no torch).

One YAML file with three sections; every field has a default, so an empty file (or none) gives the embedded
defaults (``spinlock/noa/defaults/noa.yaml``, a tiny CPU model that spells every key out)::

    backbone: {...}   # BackboneConfig: the θ-conditioned U-AFNO and how it steps
    loss: {...}       # LossConfig: weights of the trajectory, latent-alignment and commitment terms
    training: {...}   # TrainingConfig: optimisation, truncated BPTT, checkpointing

``spinlock/noa/defaults/noa_gpu.yaml`` is a GPU preset of about 144M parameters.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

import attrs

from spinlock.core.config.validators import non_negative, one_of, positive

ACTIVATIONS: tuple[str, ...] = ("gelu", "relu", "silu", "tanh")
NORMALIZATIONS: tuple[str, ...] = ("instance", "group", "layer", "none")
PADDINGS: tuple[str, ...] = ("circular", "zeros")
UPDATES: tuple[str, ...] = ("residual", "autoregressive")
TRAJECTORY_SCALES: tuple[str, ...] = ("per_sample", "none")


def _at_least(low: int) -> Any:
    def check(_instance: Any, attribute: attrs.Attribute[Any], value: int) -> None:
        if value < low:
            raise ValueError(f"'{attribute.name}' must be >= {low}: {value!r}")

    return check


def _fraction_below(high: float) -> Any:
    def check(_instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
        if not 0.0 <= value < high:
            raise ValueError(f"'{attribute.name}' must be in [0, {high}): {value!r}")

    return check


@attrs.frozen
class BackboneConfig:
    """The agent's network: a U-AFNO whose every stage is FiLM-modulated by θ.

    Shape: stem ``ConvBlock(C → B)``; encoder level ``l`` (``c = B·2^l``): ``blocks_per_level`` residual
    blocks, keep the skip, stride-2 ``Downsample(c → 2c)``; ``afno_blocks`` AFNO blocks at ``B·2^L`` channels;
    decoder level: ``Upsample(2c → c)``, concatenate the skip, ``ConvBlock(2c → c)``, ``blocks_per_level``
    residual blocks; head ``1×1 conv (B → C)``. After the stem, every encoder level, the bottleneck and every
    decoder level the features are modulated ``x·(1 + γ(θ)) + β(θ)`` per channel.

    :param base_channels: stem width ``B``.
    :param encoder_levels: downsamplings ``L``; the grid must be divisible by ``2^L``.
    :param blocks_per_level: residual blocks per encoder and per decoder level.
    :param afno_blocks: AFNO blocks in the bottleneck.
    :param modes: Fourier modes kept by the AFNO filters (at most what the bottleneck grid holds; checked
        when the agent is built for a dataset's grid).
    :param num_blocks: channel blocks of the AFNO block-diagonal complex MLP (must divide ``B·2^L``).
    :param hidden_factor: hidden width of the AFNO complex MLP relative to the block size.
    :param mlp_ratio: hidden width of the AFNO blocks' channel MLP relative to ``B·2^L``.
    :param sparsity: soft-shrinkage threshold λ of the AFNO filters.
    :param activation: nonlinearity of convs, channel MLPs and the θ MLP.
    :param normalization: per-sample normalisation of every block (never batch norm).
    :param padding: ``circular`` (periodic domains, like the operators) or ``zeros``.
    :param film_hidden: width of the θ MLP that produces every stage's FiLM scale and shift.
    :param film_layers: hidden layers of that MLP.
    :param update: ``residual``: ``u_{t+1} = u_t + dt·f(u_t, θ)``; ``autoregressive``: ``u_{t+1} = f(u_t, θ)``.
    :param dt: the residual step (unused by ``autoregressive``).
    """

    base_channels: int = attrs.field(default=8, validator=_at_least(1))
    encoder_levels: int = attrs.field(default=2, validator=[_at_least(1), attrs.validators.le(5)])
    blocks_per_level: int = attrs.field(default=1, validator=_at_least(0))
    afno_blocks: int = attrs.field(default=2, validator=_at_least(1))
    modes: int = attrs.field(default=2, validator=_at_least(1))
    num_blocks: int = attrs.field(default=4, validator=_at_least(1))
    hidden_factor: float = attrs.field(default=1.0, validator=positive)
    mlp_ratio: float = attrs.field(default=2.0, validator=positive)
    sparsity: float = attrs.field(default=0.01, validator=non_negative)
    activation: str = attrs.field(default="gelu", validator=one_of(*ACTIVATIONS))
    normalization: str = attrs.field(default="instance", validator=one_of(*NORMALIZATIONS))
    padding: str = attrs.field(default="circular", validator=one_of(*PADDINGS))
    film_hidden: int = attrs.field(default=32, validator=_at_least(1))
    film_layers: int = attrs.field(default=2, validator=_at_least(1))
    update: str = attrs.field(default="residual", validator=one_of(*UPDATES))
    dt: float = attrs.field(default=0.1, validator=positive)

    def __attrs_post_init__(self) -> None:
        if self.bottleneck_channels % self.num_blocks:
            raise ValueError(
                f"'num_blocks' must divide the bottleneck width base_channels·2^encoder_levels "
                f"({self.bottleneck_channels}): {self.num_blocks}"
            )

    @property
    def bottleneck_channels(self) -> int:
        """``B·2^L``."""
        return self.base_channels * 2**self.encoder_levels

    def stage_channels(self) -> tuple[int, ...]:
        """Widths of the FiLM-modulated stages: stem, encoder levels, bottleneck, decoder levels."""
        encoder = tuple(self.base_channels * 2**level for level in range(self.encoder_levels))
        return (self.base_channels, *encoder, self.bottleneck_channels, *reversed(encoder))


@attrs.frozen
class LossConfig:
    """``L = trajectory_weight·L_traj + latent_weight·L_latent + commitment_weight·L_commit``.

    :param trajectory_weight: weight of the MSE between predicted and target stored states (frames after u0).
    :param latent_weight: weight of the MSE between the frozen VQ-VAE's pre-quantisation latents of the
        predicted and of the target trajectory.
    :param commitment_weight: weight of ``mean((z_pred − sg(q(z_pred)))²)``: the predicted trajectory's
        latents should sit on the tokenizer's codebooks.
    :param trajectory_scale: ``per_sample`` divides each sample's and channel's error by the rms of its
        target trajectory (every operator counts equally whatever its amplitude); ``none``: raw MSE.
    """

    trajectory_weight: float = attrs.field(default=1.0, validator=non_negative)
    latent_weight: float = attrs.field(default=0.1, validator=non_negative)
    commitment_weight: float = attrs.field(default=0.5, validator=non_negative)
    trajectory_scale: str = attrs.field(default="per_sample", validator=one_of(*TRAJECTORY_SCALES))

    def __attrs_post_init__(self) -> None:
        if self.trajectory_weight + self.latent_weight + self.commitment_weight <= 0:
            raise ValueError("at least one loss weight must be > 0")

    @property
    def uses_tokenizer(self) -> bool:
        """Whether a term needs the frozen tokenizer (features of the prediction)."""
        return self.latent_weight > 0 or self.commitment_weight > 0


@attrs.frozen
class TrainingConfig:
    """Optimisation of the agent.

    :param epochs: passes over the training operators.
    :param batch_size: operators per step.
    :param learning_rate: AdamW learning rate, decayed by a cosine schedule (per epoch) to
        ``min_lr_ratio`` of it.
    :param weight_decay: AdamW weight decay.
    :param grad_clip: maximum global gradient norm (0: no clipping).
    :param validation_fraction: share of operators held out (best checkpoint, history, metrics).
    :param patience: epochs without a validation improvement before stopping (0: never stop early).
    :param bptt_window: truncated backpropagation through time: the state is detached every
        ``bptt_window`` steps, so gradients span at most that many steps (0: the whole rollout).
    :param gradient_checkpointing: recompute each step's activations in the backward pass
        (``torch.utils.checkpoint``) instead of storing them: memory ∝ states, not activations.
    :param seed: seeds the split, the initialisation and every epoch's batch order.
    :param device: ``cpu``, ``cuda`` or ``cuda:N``.
    :param num_workers: DataLoader worker processes that read batches of stored trajectories from the
        dataset file ahead of the step (0: read in the training process). Replayed datasets are served
        from memory. Results do not depend on it.

    Under ``torchrun --nproc-per-node K``, ``batch_size`` is the *global* batch, split across the K ranks
    (see ``docs/distributed-training.md``).
    """

    epochs: int = attrs.field(default=50, validator=_at_least(1))
    batch_size: int = attrs.field(default=8, validator=_at_least(1))
    learning_rate: float = attrs.field(default=2e-3, validator=positive)
    min_lr_ratio: float = attrs.field(default=0.05, validator=[non_negative, attrs.validators.le(1.0)])
    weight_decay: float = attrs.field(default=1e-4, validator=non_negative)
    grad_clip: float = attrs.field(default=1.0, validator=non_negative)
    validation_fraction: float = attrs.field(default=0.15, validator=_fraction_below(0.9))
    patience: int = attrs.field(default=0, validator=_at_least(0))
    bptt_window: int = attrs.field(default=0, validator=_at_least(0))
    gradient_checkpointing: bool = False
    seed: int = attrs.field(default=0, validator=_at_least(0))
    device: str = "cpu"
    num_workers: int = attrs.field(default=0, validator=_at_least(0))


@attrs.frozen
class NOAConfig:
    """Everything ``spinlock train-noa`` needs besides the dataset and the tokenizer."""

    backbone: BackboneConfig = attrs.field(factory=BackboneConfig)
    loss: LossConfig = attrs.field(factory=LossConfig)
    training: TrainingConfig = attrs.field(factory=TrainingConfig)


def default_config_path() -> Path:
    """Path of the embedded default ``train-noa`` config (a tiny CPU model)."""
    return Path(str(files("spinlock.noa").joinpath("defaults", "noa.yaml")))


def gpu_config_path() -> Path:
    """Path of the embedded GPU preset (about 144M parameters)."""
    return Path(str(files("spinlock.noa").joinpath("defaults", "noa_gpu.yaml")))
