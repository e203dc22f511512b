"""A trained tokenizer: the fitted cleaning, the categories, the temporal scaler and the VQ-VAE, together.

:class:`Tokenizer` is what ``spinlock train-vqvae`` saves and ``spinlock tokenize`` loads. It turns a
:class:`~spinlock.vqvae.data.FeatureTable` into token ids ``(samples, categories, levels)`` and gives the
normalised inputs and pre-quantisation latents the NOA aligns with.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch

from spinlock.vqvae.categories import TEMPORAL_CATEGORY, CategoryMap
from spinlock.vqvae.cleaning import Cleaner
from spinlock.vqvae.config import TokenizerConfig
from spinlock.vqvae.data import FeatureTable, TemporalScaler
from spinlock.vqvae.model import LEVEL_NAMES, HierarchicalVQVAE


@attrs.define(eq=False)
class Tokenizer:
    """The fitted pieces of a tokenizer (see :mod:`spinlock.vqvae.training` for how they are made).

    ``temporal_categories`` partitions the TEMPORAL columns (``None``: one category, or no TEMPORAL family);
    the model must have been built with the same partition.
    """

    config: TokenizerConfig
    cleaner: Cleaner
    categories: CategoryMap
    scaler: TemporalScaler | None
    model: HierarchicalVQVAE
    temporal_names: tuple[str, ...]
    temporal_categories: CategoryMap | None = None

    @property
    def category_names(self) -> tuple[str, ...]:
        """Names of the K token categories: the discovered static ones, then the TEMPORAL ones."""
        names = tuple(self.categories.category_names)
        if self.scaler is None:
            return names
        if self.temporal_categories is None:
            return (*names, TEMPORAL_CATEGORY)
        return (*names, *self.temporal_categories.category_names)

    @property
    def level_names(self) -> tuple[str, ...]:
        L = self.model.n_levels
        return LEVEL_NAMES[:L] if len(LEVEL_NAMES) >= L else tuple(f"level_{i}" for i in range(L))

    @property
    def codebook_sizes(self) -> tuple[int, ...]:
        return tuple(self.config.model.codebook_sizes)

    def check_table(self, table: FeatureTable) -> None:
        """Refuse a table whose columns are not the ones the tokenizer was trained on."""
        expected = list(self.cleaner.names)
        if list(table.names) != expected:
            missing = sorted(set(expected) - set(table.names))[:5]
            extra = sorted(set(table.names) - set(expected))[:5]
            raise ValueError(
                f"the features do not match the tokenizer's ({len(table.names)} columns vs {len(expected)}; "
                f"missing e.g. {missing}, unexpected e.g. {extra})"
            )
        if (self.scaler is None) != (table.temporal is None):
            raise ValueError("the tokenizer and the features disagree on whether a temporal family is used")
        if table.temporal is not None and list(table.temporal_names) != list(self.temporal_names):
            raise ValueError(
                "the temporal family's columns differ from the ones the tokenizer was trained on"
            )

    def inputs(self, table: FeatureTable) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The model's inputs: cleaned static ``(samples, D_kept)`` and scaled temporal ``(samples, T, Dt)``."""
        self.check_table(table)
        device = next(self.model.parameters()).device
        static = torch.from_numpy(self.cleaner.transform(table.static)).to(device)
        temporal = None
        if self.scaler is not None and table.temporal is not None:
            temporal = torch.from_numpy(self.scaler.transform(table.temporal)).to(device)
        return static, temporal

    @torch.no_grad()
    def tokenize(self, table: FeatureTable, batch_size: int = 4096) -> np.ndarray:
        """Token ids ``(samples, categories, levels)`` int64."""
        static, temporal = self.inputs(table)
        self.model.eval()
        out = []
        for start in range(0, static.shape[0], batch_size):
            stop = start + batch_size
            out.append(
                self.model.tokenize(static[start:stop], None if temporal is None else temporal[start:stop])
            )
        return torch.cat(out).cpu().numpy()

    @torch.no_grad()
    def reconstruct(self, table: FeatureTable) -> tuple[np.ndarray, np.ndarray | None]:
        """Reconstructions in the model's (cleaned, normalised) units: static and temporal."""
        static, temporal = self.inputs(table)
        self.model.eval()
        out = self.model(static, temporal)
        rec_t = None if out.temporal_reconstruction is None else out.temporal_reconstruction.cpu().numpy()
        assert out.static_reconstruction is not None
        return out.static_reconstruction.cpu().numpy(), rec_t

    # -- persistence -------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything but the weights, as plain types (safe for ``torch.load(weights_only=True)``)."""
        return {
            "cleaner": self.cleaner.to_state(),
            "categories": self.categories.to_state(),
            "scaler": None if self.scaler is None else self.scaler.to_state(),
            "constructor_args": self.model.constructor_args(),
            "temporal_names": list(self.temporal_names),
            "temporal_categories": (
                None if self.temporal_categories is None else self.temporal_categories.to_state()
            ),
        }

    @classmethod
    def from_state(
        cls, config: TokenizerConfig, state: dict[str, Any], weights: dict[str, torch.Tensor]
    ) -> Tokenizer:
        model = HierarchicalVQVAE.from_constructor_args(state["constructor_args"])
        model.load_state_dict(weights)
        model.eval()
        scaler_state = state.get("scaler")
        temporal_state = state.get("temporal_categories")
        return cls(
            config=config,
            cleaner=Cleaner.from_state(state["cleaner"]),
            categories=CategoryMap.from_state(state["categories"]),
            scaler=None if scaler_state is None else TemporalScaler.from_state(scaler_state),
            model=model,
            temporal_names=tuple(state["temporal_names"]),
            temporal_categories=None if temporal_state is None else CategoryMap.from_state(temporal_state),
        )

    @classmethod
    def load(cls, directory: str | Path, device: str = "cpu") -> Tokenizer:
        """The tokenizer saved in ``directory`` by ``spinlock train-vqvae`` (its ``model.pt``)."""
        from spinlock.vqvae.checkpoint import load_checkpoint, model_path

        checkpoint = load_checkpoint(model_path(directory))
        tokenizer = cls.from_state(checkpoint.config, checkpoint.tokenizer_state, checkpoint.weights)
        tokenizer.model.to(device)
        return tokenizer


def static_blocks(table: FeatureTable, families: Sequence[str]) -> dict[str, np.ndarray]:
    """The static columns of each family ``(samples, D_f)`` (for cross-family analyses)."""
    fams = np.asarray(table.families)
    return {f: table.static[:, fams == f] for f in families if (fams == f).any()}
