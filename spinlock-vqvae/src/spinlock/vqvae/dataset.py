"""torch Datasets of the tokenizer's inputs: read from the HDF5 file per batch, or from memory.

Both return :class:`FeatureBatch` — cleaned static features ``(batch, D_kept)`` and the scaled TEMPORAL
series ``(batch, T, D_t)`` — for a list of positions through ``__getitems__``, so a
:class:`~torch.utils.data.DataLoader` built by :func:`spinlock.core.batching.make_loader` asks for a whole
batch at once: :class:`FeatureDataset` reads it with one sorted fancy read per family (per-row HDF5 reads are
slow) and applies the cleaning fitted on the training samples. The transforms are element-wise, so a batch
holds exactly the values the same rows have when the whole table is transformed at once.

:class:`FeatureDataset` opens the file lazily in the process that reads (see
:class:`spinlock.core.storage.lazy.LazyReader`), so it works with any number of DataLoader workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import NamedTuple

import attrs
import numpy as np
import torch
from torch.utils.data import Dataset

from spinlock.core.storage.lazy import LazyReader
from spinlock.vqvae.cleaning import Cleaner
from spinlock.vqvae.data import TemporalScaler

__all__ = ["FeatureBatch", "FeatureDataset", "FeatureTransform", "TensorFeatureDataset"]


class FeatureBatch(NamedTuple):
    """Model inputs of a batch.

    :param static: ``(batch, D_kept)`` float32 cleaned and normalised static features.
    :param temporal: ``(batch, T, D_t)`` float32 scaled TEMPORAL features, or ``None``.
    """

    static: torch.Tensor
    temporal: torch.Tensor | None


@attrs.frozen(eq=False)
class FeatureTransform:
    """Raw stored features → model inputs, with the cleaning and scaler fitted on the training samples."""

    cleaner: Cleaner
    scaler: TemporalScaler | None

    def __call__(self, static: np.ndarray, temporal: np.ndarray | None) -> FeatureBatch:
        """``static (batch, D_in)`` and ``temporal (batch, T, D_t)`` (or ``None``) → :class:`FeatureBatch`."""
        cleaned = torch.from_numpy(self.cleaner.transform(static))
        scaled = None
        if self.scaler is not None and temporal is not None:
            scaled = torch.from_numpy(self.scaler.transform(temporal))
        return FeatureBatch(cleaned, scaled)


class FeatureDataset(Dataset[FeatureBatch]):
    """The tokenizer inputs of chosen rows of a dataset file, read batch by batch.

    Position ``i`` is dataset row ``rows[i]``. ``dataset[i]`` is one sample (``static (D_kept,)``,
    ``temporal (T, D_t)``); ``dataset.__getitems__(positions)`` is a batch.

    :param path: the dataset (HDF5).
    :param static_families: families concatenated into the static vector, in the tokenizer's order.
    :param temporal_family: the per-timestep family, or ``None``.
    :param rows: dataset rows ``(samples,)``.
    :param transform: fitted cleaning (:class:`FeatureTransform`).
    """

    def __init__(
        self,
        path: str | PathLike[str],
        static_families: Sequence[str],
        temporal_family: str | None,
        rows: Sequence[int] | np.ndarray,
        transform: FeatureTransform,
    ) -> None:
        self.path = Path(path)
        self.static_families = tuple(static_families)
        self.temporal_family = temporal_family
        self.rows = np.asarray(rows, dtype=np.int64)
        self.transform = transform
        self.reader = LazyReader(self.path)

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def raw(self, positions: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Stored values of ``positions``: static ``(batch, D_in)`` float64 (families side by side) and
        temporal ``(batch, T, D_t)`` float32 or ``None``. One fancy read per family."""
        reader = self.reader.get()
        rows = self.rows[np.asarray(positions, dtype=np.int64)]
        blocks = [np.asarray(reader.features(f, rows).values, dtype=np.float64) for f in self.static_families]
        static = np.concatenate(blocks, axis=1) if blocks else np.empty((len(rows), 0))
        temporal = None
        if self.temporal_family is not None:
            temporal = np.asarray(reader.features(self.temporal_family, rows).values, dtype=np.float32)
        return static, temporal

    def __getitems__(self, positions: Sequence[int]) -> FeatureBatch:
        return self.transform(*self.raw(positions))

    def __getitem__(self, position: int) -> FeatureBatch:
        batch = self.__getitems__([position])
        return FeatureBatch(batch.static[0], None if batch.temporal is None else batch.temporal[0])

    def close(self) -> None:
        """Close this process's file handle."""
        self.reader.close()


class TensorFeatureDataset(Dataset[FeatureBatch]):
    """The same interface over inputs already in memory: ``static (samples, D_kept)`` and ``temporal
    (samples, T, D_t)`` or ``None`` (a table handed to :func:`~spinlock.vqvae.training.train_tokenizer`)."""

    def __init__(self, static: torch.Tensor, temporal: torch.Tensor | None) -> None:
        self.static = static
        self.temporal = temporal

    def __len__(self) -> int:
        return int(self.static.shape[0])

    def __getitems__(self, positions: Sequence[int]) -> FeatureBatch:
        index = torch.as_tensor(positions, dtype=torch.long)
        return FeatureBatch(self.static[index], None if self.temporal is None else self.temporal[index])

    def __getitem__(self, position: int) -> FeatureBatch:
        return FeatureBatch(self.static[position], None if self.temporal is None else self.temporal[position])
