"""The ``train-vqvae`` config (torch-free, so that registering the tokenizer imports no torch).

One YAML file with five sections; every field has a default, so an empty file (or none) gives the embedded
defaults (``spinlock/vqvae/defaults/vqvae.yaml``, which spells them out)::

    families: {static: [initial, summary], temporal: temporal, architecture: false}
    cleaning: {...}      # CleaningConfig
    categories: {...}    # CategoryConfig
    model: {...}         # VQVAEConfig
    training: {...}      # TrainingConfig
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import attrs

from spinlock.vqvae.categories import CategoryConfig
from spinlock.vqvae.cleaning import CleaningConfig
from spinlock.vqvae.model_config import VQVAEConfig


def _families(instance: object, attribute: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]) -> None:
    if len(set(value)) != len(value):
        raise ValueError(f"static families listed twice: {list(value)}")


@attrs.frozen
class FamiliesConfig:
    """Which stored feature families the tokenizer reads.

    :param static: per-sample families ``(N, D)``, concatenated into the static feature vector; at least one
        (``architecture: true`` counts).
    :param temporal: the per-timestep family ``(N, T, D)`` with its own sequence encoder, or ``None``.
    :param architecture: also use the ARCHITECTURE family (θ decoded). Off by default: tokens should
        describe behaviour, and the NOA receives θ anyway.
    """

    static: tuple[str, ...] = attrs.field(
        default=("initial", "summary"), converter=tuple, validator=_families
    )
    temporal: str | None = "temporal"
    architecture: bool = False

    def static_families(self) -> tuple[str, ...]:
        """``static`` plus ``architecture`` when enabled."""
        if self.architecture and "architecture" not in self.static:
            return (*self.static, "architecture")
        return self.static

    def __attrs_post_init__(self) -> None:
        if not self.static_families():
            # cleaning and category discovery are fitted on the static columns; the model alone
            # (HierarchicalVQVAE([], temporal_dim=...)) can be TEMPORAL-only, the pipeline cannot
            raise ValueError(
                "'static' needs at least one family (or 'architecture: true'): the cleaning and the "
                "categories are fitted on the static features"
            )


@attrs.frozen
class TrainingConfig:
    """Optimisation of the VQ-VAE.

    :param epochs: maximum number of passes over the training samples.
    :param batch_size: samples per step (the first batch also initialises the codebooks by k-means, so it
        should hold well more samples than the largest codebook).
    :param learning_rate: AdamW learning rate, decayed by a cosine schedule to ``min_lr_ratio`` of it.
    :param weight_decay: AdamW weight decay.
    :param grad_clip: maximum global gradient norm (0: no clipping).
    :param validation_fraction: share of samples held out for early stopping and the metrics.
    :param patience: epochs without a validation improvement before stopping (0: never stop early).
    :param seed: seeds the split, the initialisation and the batch order of every epoch.
    :param device: ``cpu``, ``cuda`` or ``cuda:N``.
    :param compile: run the encoder and decoder passes through ``torch.compile`` (opt-in, GPU; the quantizers
        stay eager, see :meth:`HierarchicalVQVAE.compile_networks`).
    :param num_workers: DataLoader worker processes that read and clean training batches from the dataset
        file ahead of the step (0: read in the training process). Under ``torchrun`` each rank starts its
        own workers. Results do not depend on it.

    Under ``torchrun --nproc-per-node K``, ``batch_size`` is the *global* batch: each step's batch is split
    into K shards of near-equal size, one per rank, so a config means the same optimisation at any K
    (see ``docs/distributed-training.md``).
    """

    epochs: int = attrs.field(default=100, validator=attrs.validators.ge(1))
    batch_size: int = attrs.field(default=128, validator=attrs.validators.ge(2))
    learning_rate: float = attrs.field(default=2e-3, validator=attrs.validators.gt(0.0))
    min_lr_ratio: float = attrs.field(
        default=0.05, validator=[attrs.validators.ge(0.0), attrs.validators.le(1.0)]
    )
    weight_decay: float = attrs.field(default=1e-4, validator=attrs.validators.ge(0.0))
    grad_clip: float = attrs.field(default=1.0, validator=attrs.validators.ge(0.0))
    validation_fraction: float = attrs.field(
        default=0.15, validator=[attrs.validators.ge(0.0), attrs.validators.lt(0.9)]
    )
    patience: int = attrs.field(default=20, validator=attrs.validators.ge(0))
    seed: int = 0
    device: str = "cpu"
    compile: bool = False
    num_workers: int = attrs.field(default=0, validator=attrs.validators.ge(0))


@attrs.frozen
class TokenizerConfig:
    """Everything ``spinlock train-vqvae`` needs besides the dataset."""

    families: FamiliesConfig = attrs.field(factory=FamiliesConfig)
    cleaning: CleaningConfig = attrs.field(factory=CleaningConfig)
    categories: CategoryConfig = attrs.field(factory=CategoryConfig)
    model: VQVAEConfig = attrs.field(factory=VQVAEConfig)
    training: TrainingConfig = attrs.field(factory=TrainingConfig)


def default_config_path() -> Path:
    """Path of the embedded default ``train-vqvae`` config."""
    return Path(str(files("spinlock.vqvae").joinpath("defaults", "vqvae.yaml")))
