"""torch Datasets of the agent's operators: (θ, u0, realization-mean target), from the file or from memory.

Both return a :class:`TrajectoryBatch` for a list of positions through ``__getitems__`` (see
:func:`spinlock.core.batching.make_loader`). :class:`TrajectoryDataset` reads ``/parameters/unit``,
``/initial_conditions/fields`` and ``/trajectories/fields`` of a batch with one sorted fancy read each and
averages the realizations, exactly as :func:`spinlock.noa.data.load_data` does for the whole dataset; it
opens the file lazily in the process that reads, so it works with DataLoader workers, and the targets of
a large dataset never have to fit in memory. Datasets that stored no trajectories are replayed once by
:func:`~spinlock.noa.data.load_data` and served from memory by :class:`MemoryTrajectoryDataset`.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from spinlock.core.storage.lazy import LazyReader
from spinlock.noa.data import NOAData

__all__ = ["MemoryTrajectoryDataset", "TrajectoryBatch", "TrajectoryDataset"]


class TrajectoryBatch(NamedTuple):
    """A batch of operators.

    :param positions: ``(batch,)`` long, positions in the training data (rows of :class:`NOAData`).
    :param theta: ``(batch, P)`` float32 unit-cube θ.
    :param u0: ``(batch, C, H, W)`` float32.
    :param target: ``(batch, T', C, H, W)`` float32 realization-mean stored states.
    """

    positions: torch.Tensor
    theta: torch.Tensor
    u0: torch.Tensor
    target: torch.Tensor


class TrajectoryDataset(Dataset[TrajectoryBatch]):
    """Operators ``rows`` of a dataset file that stored its trajectories, read batch by batch.

    :param path: the dataset (HDF5) with ``/trajectories/fields``.
    :param rows: dataset rows ``(samples,)``; position ``i`` is row ``rows[i]``.
    """

    def __init__(self, path: str | PathLike[str], rows: Sequence[int] | np.ndarray) -> None:
        self.path = Path(path)
        self.rows = np.asarray(rows, dtype=np.int64)
        self.reader = LazyReader(self.path)

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def __getitems__(self, positions: Sequence[int]) -> TrajectoryBatch:
        reader = self.reader.get()
        index = np.asarray(positions, dtype=np.int64)
        rows = self.rows[index]
        trajectories = reader.trajectories(rows)
        if trajectories is None:
            raise ValueError(f"{self.path} stores no trajectories; replay them with load_data")
        return TrajectoryBatch(
            positions=torch.from_numpy(index),
            theta=torch.from_numpy(np.asarray(reader.unit_parameters(rows), dtype=np.float32)),
            u0=torch.from_numpy(np.asarray(reader.initial_conditions(rows), dtype=np.float32)),
            target=torch.from_numpy(np.asarray(trajectories, dtype=np.float32)).mean(dim=1),
        )

    def __getitem__(self, position: int) -> TrajectoryBatch:
        batch = self.__getitems__([position])
        return TrajectoryBatch(*(part[0] for part in batch))

    def close(self) -> None:
        """Close this process's file handle."""
        self.reader.close()


class MemoryTrajectoryDataset(Dataset[TrajectoryBatch]):
    """The same interface over :class:`NOAData` whose targets are in memory (replayed datasets)."""

    def __init__(self, data: NOAData) -> None:
        if data.target is None:
            raise ValueError("the data was loaded without its targets (keep_target=False)")
        self.data = data
        self.target: torch.Tensor = data.target

    def __len__(self) -> int:
        return len(self.data)

    def __getitems__(self, positions: Sequence[int]) -> TrajectoryBatch:
        index = torch.as_tensor(positions, dtype=torch.long)
        return TrajectoryBatch(index, self.data.theta[index], self.data.u0[index], self.target[index])

    def __getitem__(self, position: int) -> TrajectoryBatch:
        batch = self.__getitems__([position])
        return TrajectoryBatch(*(part[0] for part in batch))
