"""Which samples each rank reads at each step: seeded epoch orders cut into global batches, split by rank.

A training epoch visits the training samples in an order seeded by (seed, epoch) — the same on every rank
and independent of the number of ranks — and cuts it into *global* batches of ``batch_size`` samples. Under
data-parallel training with K ranks each global batch is split into K contiguous shards of near-equal size
(``numpy.array_split``) and rank ``r`` reads shard ``r``; every rank therefore takes the same number of
steps, and the union of the shards of one step is exactly the batch a single process would have used. With
one rank a shard is the whole global batch, so the single-process order is unchanged.

:class:`GlobalBatchSampler` is a batch sampler for :class:`torch.utils.data.DataLoader`; :func:`make_loader`
builds the loader over a dataset whose ``__getitems__`` returns a whole batch. torch is imported lazily.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from spinlock.core.training import epoch_seed

if TYPE_CHECKING:
    from torch.utils.data import DataLoader, Dataset

__all__ = ["GlobalBatchSampler", "make_loader"]


class GlobalBatchSampler:
    """Yields this rank's shard (a list of dataset positions) of every global batch of the current epoch.

    :param positions: dataset positions of the training samples ``(samples,)``.
    :param batch_size: samples per global batch (all ranks together).
    :param seed: seeds every epoch's order, with the epoch (see :func:`spinlock.core.training.epoch_seed`).
    :param rank: this process's rank.
    :param world_size: number of ranks.
    :param merge_small_tail: fold a last batch smaller than ``batch_size // 4`` into the previous one
        (statistics of tiny batches are poor; the VQ-VAE's k-means and EMA statistics need full ones).
    :param min_shard: the fewest samples a rank's shard may hold; a global batch too small to give every
        rank that many raises :class:`ValueError` (the VQ-VAE needs ``1``: its codebook update is a
        collective every rank must join with data).
    """

    def __init__(
        self,
        positions: Sequence[int] | np.ndarray,
        batch_size: int,
        seed: int,
        *,
        rank: int = 0,
        world_size: int = 1,
        merge_small_tail: bool = False,
        min_shard: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"'batch_size' must be >= 1: {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside a world of {world_size}")
        self.positions = np.asarray(positions, dtype=np.int64)
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.merge_small_tail = merge_small_tail
        self.min_shard = min_shard
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order the next iteration follows."""
        self.epoch = epoch

    def order(self, epoch: int) -> np.ndarray:
        """All training positions in epoch ``epoch``'s order ``(samples,)`` (same on every rank)."""
        permutation = np.random.default_rng(epoch_seed(self.seed, epoch)).permutation(len(self.positions))
        return self.positions[permutation]

    def global_batches(self, epoch: int) -> list[np.ndarray]:
        """The global batches of epoch ``epoch``, each ``(batch,)`` positions."""
        order = self.order(epoch)
        starts = list(range(0, len(order), self.batch_size))
        if self.merge_small_tail and len(starts) > 1 and len(order) - starts[-1] < self.batch_size // 4:
            starts.pop()
        stops = [*starts[1:], len(order)]
        batches = [order[start:stop] for start, stop in zip(starts, stops, strict=True)]
        smallest = min((len(b) for b in batches), default=0)
        if batches and smallest < self.min_shard * self.world_size:
            raise ValueError(
                f"a batch of {smallest} samples cannot give each of {self.world_size} ranks "
                f"{self.min_shard} or more; raise batch_size (it is the global batch, split across ranks) "
                "or use fewer processes"
            )
        return batches

    def shard(self, batch: np.ndarray) -> np.ndarray:
        """This rank's contiguous share of a global batch (sizes differ by at most one across ranks)."""
        if self.world_size == 1:
            return batch
        return np.array_split(batch, self.world_size)[self.rank]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.global_batches(self.epoch):
            yield self.shard(batch).tolist()

    def __len__(self) -> int:
        return len(self.global_batches(self.epoch))


def _as_is(batch: Any) -> Any:
    """The collate function of loaders over ``__getitems__`` datasets: the batch is already assembled."""
    return batch


def make_loader(
    dataset: Dataset[Any],
    sampler: GlobalBatchSampler,
    *,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader[Any]:
    """A :class:`~torch.utils.data.DataLoader` that asks ``dataset.__getitems__`` for whole shards.

    :param num_workers: worker processes reading ahead (0: read in this process). Workers persist across
        epochs; the dataset must open its files lazily in each worker.
    :param pin_memory: page-lock batches for faster copies to a GPU.
    """
    import torch
    from torch.utils.data import DataLoader

    # A loader draws a base seed for its workers from its generator each epoch; its own generator keeps
    # that draw off the global RNG, whose state the training loop's seeded draws depend on.
    return DataLoader(
        dataset,
        generator=torch.Generator().manual_seed(0),
        batch_sampler=sampler,
        num_workers=num_workers,
        collate_fn=_as_is,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
    )
