"""Training a tokenizer: clean → discover categories → fit the hierarchical VQ-VAE, with checkpoints.

:func:`train_tokenizer` runs the whole pipeline on a :class:`~spinlock.vqvae.data.FeatureTable`:

1. a seeded split into training and validation samples;
2. cleaning and normalisation fitted on the training samples (re-applied identically everywhere after);
3. category discovery on the cleaned training columns;
4. the TEMPORAL scaler fitted on the training samples;
5. AdamW with a cosine schedule, gradient clipping and early stopping on the validation loss; the best
   model goes to ``model.pt``, the latest state (optimizer, schedule, history) to ``last.pt`` after every
   epoch, so ``resume=True`` continues the same run: the batch order and every random draw of epoch e are
   seeded by (seed, e), so an interrupted and resumed run reproduces the uninterrupted loss curve.

Non-finite losses are never skipped silently: the epoch stops with a :class:`TrainingError` naming the
epoch and the loss terms.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch

from spinlock.core.training import (
    EpochProgress,
    SilentProgress,
    cosine_learning_rate,
    epoch_seed,
)
from spinlock.vqvae.categories import discover_categories
from spinlock.vqvae.checkpoint import LAST_FILE, MODEL_FILE, load_checkpoint, save_checkpoint
from spinlock.vqvae.cleaning import fit_cleaner
from spinlock.vqvae.config import TokenizerConfig
from spinlock.vqvae.data import FeatureTable, TemporalScaler, split_indices
from spinlock.vqvae.model import HierarchicalVQVAE
from spinlock.vqvae.tokenizer import Tokenizer


class TrainingError(RuntimeError):
    """Training cannot continue (non-finite loss, a resume that does not match, ...)."""


@attrs.frozen(eq=False)
class TrainResult:
    """What a training run produced."""

    tokenizer: Tokenizer
    train_index: np.ndarray
    validation_index: np.ndarray
    history: list[dict[str, Any]]
    best_epoch: int
    stopped_early: bool
    seconds: float


def _tensor_batches(
    static: torch.Tensor, temporal: torch.Tensor | None, order: np.ndarray, batch_size: int
) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    batches = []
    # the last batch is merged into the previous one when it would be tiny (k-means and batch statistics)
    starts = list(range(0, len(order), batch_size))
    if len(starts) > 1 and len(order) - starts[-1] < batch_size // 4:
        starts.pop()
    for i, start in enumerate(starts):
        stop = starts[i + 1] if i + 1 < len(starts) else len(order)
        idx = torch.from_numpy(order[start:stop])
        batches.append((static[idx], None if temporal is None else temporal[idx]))
    return batches


def _evaluate(
    model: torch.nn.Module, static: torch.Tensor | None, temporal: torch.Tensor | None
) -> dict[str, float]:
    model.eval()
    with torch.no_grad():
        out = model(static, temporal)
    return {k: float(v) for k, v in out.losses._asdict().items()}


def fit_preprocessing(
    table: FeatureTable, config: TokenizerConfig, train_index: np.ndarray
) -> tuple[Any, Any, TemporalScaler | None]:
    """Cleaner, category map and temporal scaler fitted on the training samples."""
    train = table.take(train_index)
    cleaner = fit_cleaner(train.static, train.names, config.cleaning)
    cleaned = cleaner.transform(train.static)
    families = [n.split("::", 1)[0] for n in cleaner.kept_names]
    categories = discover_categories(cleaned, cleaner.kept_names, config.categories, families=families)
    scaler = TemporalScaler.fit(train.temporal) if train.temporal is not None else None
    return cleaner, categories, scaler


def train_tokenizer(
    table: FeatureTable,
    config: TokenizerConfig,
    output: str | Path,
    *,
    config_yaml: str,
    provenance: Mapping[str, str] | None = None,
    resume: bool = False,
    progress: EpochProgress | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> TrainResult:
    """Train (or, with ``resume``, finish training) a tokenizer into the directory ``output``."""
    began = time.perf_counter()
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    progress = progress or SilentProgress()
    t = config.training
    device = torch.device(t.device)
    provenance = dict(provenance or {})

    train_index, val_index = split_indices(len(table), t.validation_fraction, t.seed)
    state: dict[str, Any] | None = None
    if resume:
        last = load_checkpoint(out / LAST_FILE)
        if last.config_yaml != config_yaml:
            raise TrainingError(
                f"{out / LAST_FILE} was trained with another config; resume needs the same one"
            )
        state = last.training
        if state is None:
            raise TrainingError(f"{out / LAST_FILE} holds no training state to resume from")
        tokenizer = Tokenizer.from_state(config, last.tokenizer_state, last.weights)
        tokenizer.check_table(table)
        if state["n_samples"] != len(table):
            raise TrainingError(
                f"the dataset has {len(table)} usable samples but the run was started on {state['n_samples']}"
            )
        model = tokenizer.model
        log(f"resuming after epoch {state['epoch']}")
    else:
        torch.manual_seed(t.seed)
        cleaner, categories, scaler = fit_preprocessing(table, config, train_index)
        log(
            f"cleaning kept {cleaner.n_features_out} of {cleaner.n_features_in} columns; "
            f"{categories.n_categories} categories"
        )
        model = HierarchicalVQVAE(
            [list(c.indices) for c in categories.categories],
            None if scaler is None else int(table.temporal.shape[2]),  # type: ignore[union-attr]
            config.model,
        )
        tokenizer = Tokenizer(config, cleaner, categories, scaler, model, table.temporal_names)
    model.to(device)
    static, temporal = tokenizer.inputs(table)
    optimizer = torch.optim.AdamW(model.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay)
    history: list[dict[str, Any]] = []
    best_loss, best_epoch, first_epoch, stale = math.inf, -1, 0, 0
    best_weights = copy.deepcopy(model.state_dict())
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        history = list(state["history"])
        best_loss, best_epoch, stale = (
            float(state["best_loss"]),
            int(state["best_epoch"]),
            int(state["stale"]),
        )
        first_epoch = int(state["epoch"]) + 1
        best_weights = (
            load_checkpoint(out / MODEL_FILE).weights if (out / MODEL_FILE).exists() else best_weights
        )
    step_model: torch.nn.Module = torch.compile(model) if t.compile else model  # type: ignore[assignment]

    val_static = static[torch.from_numpy(val_index)] if len(val_index) else None
    val_temporal = temporal[torch.from_numpy(val_index)] if temporal is not None and len(val_index) else None
    stopped_early = False
    progress.start(t.epochs, first_epoch)
    try:
        for epoch in range(first_epoch, t.epochs):
            if t.patience and stale >= t.patience:
                stopped_early = True
                break
            torch.manual_seed(epoch_seed(t.seed, epoch))
            order = train_index[
                np.random.default_rng(epoch_seed(t.seed, epoch)).permutation(len(train_index))
            ]
            lr = cosine_learning_rate(t.learning_rate, t.min_lr_ratio, epoch, t.epochs)
            for group in optimizer.param_groups:
                group["lr"] = lr
            model.train()
            sums: dict[str, float] = {}
            batches = _tensor_batches(static, temporal, order, t.batch_size)
            for batch_static, batch_temporal in batches:
                out_b = step_model(batch_static, batch_temporal)
                loss = out_b.losses.total
                if not torch.isfinite(loss):
                    terms = {k: float(v) for k, v in out_b.losses._asdict().items()}
                    raise TrainingError(f"non-finite loss at epoch {epoch}: {terms}")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if t.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
                optimizer.step()
                for k, v in out_b.losses._asdict().items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach())
            record: dict[str, Any] = {"epoch": epoch, "lr": lr}
            record.update({f"train_{k}": v / len(batches) for k, v in sums.items()})
            if val_static is not None or val_temporal is not None:
                record.update({f"val_{k}": v for k, v in _evaluate(model, val_static, val_temporal).items()})
            monitored = record.get("val_total", record["train_total"])
            if best_epoch < 0 or monitored < best_loss - 1e-7 * abs(best_loss):
                best_loss, best_epoch, stale = monitored, epoch, 0
                best_weights = copy.deepcopy(model.state_dict())
                _save(out / MODEL_FILE, config_yaml, provenance, tokenizer, best_weights, None)
            else:
                stale += 1
            history.append(record)
            training_state = {
                "epoch": epoch,
                "optimizer": optimizer.state_dict(),
                "history": history,
                "best_loss": best_loss,
                "best_epoch": best_epoch,
                "stale": stale,
                "n_samples": len(table),
            }
            _save(out / LAST_FILE, config_yaml, provenance, tokenizer, model.state_dict(), training_state)
            progress.epoch(record)
    finally:
        progress.stop()
    (out / "history.json").write_text(json.dumps(history, indent=1))
    (out / "config.yaml").write_text(config_yaml)
    model.load_state_dict(best_weights)
    model.eval()
    return TrainResult(
        tokenizer=tokenizer,
        train_index=train_index,
        validation_index=val_index,
        history=history,
        best_epoch=best_epoch,
        stopped_early=stopped_early,
        seconds=time.perf_counter() - began,
    )


def _save(
    path: Path,
    config_yaml: str,
    provenance: Mapping[str, str],
    tokenizer: Tokenizer,
    weights: Mapping[str, torch.Tensor],
    training: Mapping[str, Any] | None,
) -> None:
    save_checkpoint(
        path,
        config_yaml=config_yaml,
        provenance=provenance,
        tokenizer_state=tokenizer.state(),
        weights=weights,
        training=training,
    )


class VQVAEEncoder:
    """The registered ``vqvae`` encoder: a :class:`TokenizerConfig` that can train and load tokenizers."""

    def __init__(self, config: TokenizerConfig | None = None) -> None:
        self.config = config if config is not None else TokenizerConfig()

    def train(self, dataset: str | Path, output: str | Path, **kwargs: Any) -> TrainResult:
        """Train on a dataset's feature families into the directory ``output``."""
        from spinlock.core.config import dump_config, make_converter
        from spinlock.vqvae.data import load_table

        families = self.config.families
        table = load_table(dataset, families.static_families(), families.temporal)
        text = dump_config(self.config, make_converter())
        return train_tokenizer(table, self.config, output, config_yaml=text, **kwargs)

    @staticmethod
    def load(directory: str | Path, device: str = "cpu") -> Tokenizer:
        """A trained tokenizer from its output directory."""
        return Tokenizer.load(directory, device)
