"""What every Spinlock training loop shares: epoch seeding, the schedule, progress and safe checkpoints.

The tokenizer (spinlock-vqvae) and the agent (spinlock-noa) train the same way: a seeded split, an epoch
order and random draws seeded by (seed, epoch) so that a resumed run reproduces the uninterrupted one, a
cosine learning-rate decay, and checkpoints that are ``torch.save`` dicts of tensors and plain types only,
written atomically and read with ``torch.load(weights_only=True)`` (never unpickling code). torch is imported
inside the functions that need it.
"""

from __future__ import annotations

import copy
import math
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch

import numpy as np


class EpochProgress(Protocol):
    """Receives per-epoch reports (the command line shows a rich progress bar)."""

    def start(self, total_epochs: int, first_epoch: int) -> None: ...

    def epoch(self, record: Mapping[str, Any]) -> None: ...

    def stop(self) -> None: ...


class SilentProgress:
    """Reports nothing."""

    def start(self, total_epochs: int, first_epoch: int) -> None:
        pass

    def epoch(self, record: Mapping[str, Any]) -> None:
        pass

    def stop(self) -> None:
        pass


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch``'s batch order and random draws (independent of any earlier epoch)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def cosine_learning_rate(base: float, min_ratio: float, epoch: int, epochs: int) -> float:
    """Cosine decay from ``base`` at epoch 0 to ``min_ratio · base`` at the last epoch."""
    progress = epoch / max(1, epochs - 1)
    return base * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


class BestModelTracker:
    """Early stopping and the best weights of a training run, resumable from its saved state.

    After each epoch :meth:`update` takes the epoch's record and monitors ``val_<monitor>``
    (``train_<monitor>`` when there is no validation split; ``monitor`` is ``"total"`` unless given): a value
    below the best by more than a relative 1e-7 makes it the new best and copies ``module``'s weights;
    otherwise the epoch is stale. :attr:`exhausted` turns true after ``patience`` stale epochs in a row
    (never with ``patience`` 0). :meth:`state` and :meth:`resume` carry the bookkeeping through a checkpoint,
    so a resumed run stops where the uninterrupted one would have.
    """

    def __init__(self, module: torch.nn.Module, patience: int, monitor: str = "total") -> None:
        self.module = module
        self.patience = patience
        self.monitor = monitor
        self.history: list[dict[str, Any]] = []
        self.best_loss = math.inf
        self.best_epoch = -1
        self.stale = 0
        self.first_epoch = 0
        self.best_weights: Mapping[str, torch.Tensor] = copy.deepcopy(module.state_dict())

    def resume(self, state: Mapping[str, Any], best_weights: Mapping[str, torch.Tensor] | None) -> None:
        """Continue from a :meth:`state` saved after epoch ``state["epoch"]``; ``best_weights`` are those
        saved with the best epoch (``None`` keeps the current weights as the best so far)."""
        self.history = list(state["history"])
        self.best_loss = float(state["best_loss"])
        self.best_epoch = int(state["best_epoch"])
        self.stale = int(state["stale"])
        self.first_epoch = int(state["epoch"]) + 1
        if best_weights is not None:
            self.best_weights = best_weights

    @property
    def exhausted(self) -> bool:
        return bool(self.patience) and self.stale >= self.patience

    def update(self, record: Mapping[str, Any]) -> bool:
        """Record an epoch; ``True`` when it is the new best (its weights are then in :attr:`best_weights`)."""
        self.history.append(dict(record))
        monitored = float(record.get(f"val_{self.monitor}", record[f"train_{self.monitor}"]))
        if self.best_epoch < 0 or monitored < self.best_loss - 1e-7 * abs(self.best_loss):
            self.best_loss, self.best_epoch, self.stale = monitored, int(record["epoch"]), 0
            self.best_weights = copy.deepcopy(self.module.state_dict())
            return True
        self.stale += 1
        return False

    def state(self, epoch: int) -> dict[str, Any]:
        """The bookkeeping after ``epoch``, plain values for a checkpoint (see :meth:`resume`)."""
        return {
            "epoch": epoch,
            "history": self.history,
            "best_loss": self.best_loss,
            "best_epoch": self.best_epoch,
            "stale": self.stale,
        }


def seeded_split(
    n: int, validation_fraction: float, seed: int, min_train: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of ``range(n)`` into sorted (train, validation) positions.

    :raises ValueError: when fewer than ``min_train`` samples would be left to train on.
    """
    order = np.random.default_rng(seed).permutation(n)
    n_val = round(validation_fraction * n)
    if n - n_val < min_train:
        raise ValueError(f"{n} samples are too few for a validation fraction of {validation_fraction}")
    return np.sort(order[n_val:]), np.sort(order[:n_val])


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, with the reason."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path


def save_payload(path: Path, payload: Mapping[str, Any], *, format_name: str, format_version: int) -> None:
    """``torch.save`` ``payload`` (tensors and plain types) with its format tag, atomically: a temporary
    file, then a rename, so a crash never leaves a half-written checkpoint."""
    import torch

    data = {"format": format_name, "format_version": format_version, **payload}
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(data, tmp)
    os.replace(tmp, path)


def load_payload(
    path: str | Path, *, format_name: str, format_version: int, what: str, hint: str
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_payload` with ``weights_only=True``.

    :param what: names the kind of checkpoint in messages (e.g. ``"Spinlock VQ-VAE"``).
    :param hint: how to make one, for a missing file (e.g. ``"train one with `spinlock train-vqvae`"``).
    :raises CheckpointError: missing, unreadable or foreign file, or a newer format version.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, f"no such checkpoint file ({hint})")
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickles before refusing them
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises pickle/zip errors of many kinds for foreign or corrupt files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(path, f"not a readable Spinlock checkpoint ({reason})") from None
    if not isinstance(payload, dict) or payload.get("format") != format_name:
        raise CheckpointError(path, f"not a {what} checkpoint")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > format_version:
        raise CheckpointError(
            path, f"checkpoint format version {version!r} is newer than this reader's ({format_version})"
        )
    return payload
