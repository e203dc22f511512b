"""Training a tokenizer: clean → discover categories → fit the hierarchical VQ-VAE, with checkpoints.

:func:`train_tokenizer` runs the whole pipeline on a :class:`~spinlock.vqvae.data.FeatureTable`:

1. a seeded split into training and validation samples;
2. cleaning and normalisation fitted on the training samples (re-applied identically everywhere after);
3. category discovery on the cleaned training columns;
4. the TEMPORAL scaler fitted on the training samples;
5. AdamW with a cosine schedule, gradient clipping and early stopping on the validation reconstruction
   objective (``VQVAELosses.objective``: the loss without its commitment regulariser); the best
   model goes to ``model.pt``, the latest state (optimizer, schedule, history) to ``last.pt`` after every
   epoch, so ``resume=True`` continues the same run: the batch order and every random draw of epoch e are
   seeded by (seed, e), so an interrupted and resumed run reproduces the uninterrupted loss curve.

Non-finite losses are never skipped silently: the epoch stops with a :class:`TrainingError` naming the
epoch and the loss terms.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch
from torch.utils.data import Dataset

from spinlock.core import distributed
from spinlock.core.batching import GlobalBatchSampler, make_loader
from spinlock.core.training import (
    BestModelTracker,
    EpochProgress,
    SilentProgress,
    cosine_learning_rate,
    epoch_seed,
)
from spinlock.vqvae.categories import CategoryMap, discover_categories, discover_temporal_categories
from spinlock.vqvae.checkpoint import LAST_FILE, MODEL_FILE, load_checkpoint, save_checkpoint
from spinlock.vqvae.cleaning import Cleaner, fit_cleaner
from spinlock.vqvae.config import TokenizerConfig
from spinlock.vqvae.data import FeatureTable, TemporalScaler, split_indices
from spinlock.vqvae.dataset import FeatureBatch, FeatureDataset, FeatureTransform, TensorFeatureDataset
from spinlock.vqvae.model import HierarchicalVQVAE, VQVAELosses
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


def _evaluate(
    model: torch.nn.Module, static: torch.Tensor | None, temporal: torch.Tensor | None
) -> dict[str, float]:
    model.eval()
    with torch.no_grad():
        out = model(static, temporal)
    return {k: float(v) for k, v in out.losses._asdict().items()}


def fit_preprocessing(
    table: FeatureTable, config: TokenizerConfig, train_index: np.ndarray
) -> tuple[Cleaner, CategoryMap, TemporalScaler | None, CategoryMap | None]:
    """Cleaner, static categories, temporal scaler and TEMPORAL categories fitted on the training samples."""
    train = table.take(train_index)
    cleaner = fit_cleaner(train.static, train.names, config.cleaning)
    cleaned = cleaner.transform(train.static)
    families = [n.split("::", 1)[0] for n in cleaner.kept_names]
    categories = discover_categories(cleaned, cleaner.kept_names, config.categories, families=families)
    if train.temporal is None:
        return cleaner, categories, None, None
    scaler = TemporalScaler.fit(
        train.temporal,
        outlier_k=config.cleaning.outlier_k,
        power_transform=config.cleaning.power_transform == "yeo-johnson",
        seed=config.training.seed,
    )
    temporal_categories = discover_temporal_categories(
        scaler.transform(train.temporal), table.temporal_names, config.categories
    )
    return cleaner, categories, scaler, temporal_categories


def _evaluate_shards(
    model: torch.nn.Module,
    static: torch.Tensor | None,
    temporal: torch.Tensor | None,
    ctx: distributed.DistributedContext,
) -> dict[str, float]:
    """Validation losses. One process scores all validation samples at once; under DDP each rank scores a
    contiguous shard and the row-weighted means are summed over ranks."""
    if not ctx.is_distributed:
        return _evaluate(model, static, temporal)
    reference = static if static is not None else temporal
    assert reference is not None
    n = int(reference.shape[0])
    part = np.array_split(np.arange(n), ctx.world_size)[ctx.rank]
    sums = dict.fromkeys(VQVAELosses._fields, 0.0)
    if len(part):
        index = torch.from_numpy(part).to(reference.device)
        local = _evaluate(
            model,
            None if static is None else static[index],
            None if temporal is None else temporal[index],
        )
        sums = {k: v * len(part) for k, v in local.items()}
    return {k: v / n for k, v in distributed.all_reduce_floats(sums).items()}


def _quiet(message: str) -> None:
    pass


def _nonfinite_note(cleaner: Cleaner) -> str:
    """``; NaN/inf: ...`` for the training log when the features held any, else nothing."""
    report = cleaner.report
    dropped = len(report.dropped_by_reason()["nonfinite"])
    imputed = [share for share in report.imputed_fraction if share > 0]
    if not dropped and not imputed:
        return ""
    worst = f" (up to {max(imputed):.1%} of a column)" if imputed else ""
    return f"; NaN/inf: {dropped} columns dropped, {len(imputed)} imputed with medians{worst}"


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
    dataset: str | Path | None = None,
) -> TrainResult:
    """Train (or, with ``resume``, finish training) a tokenizer into the directory ``output``.

    :param dataset: the file ``table`` was read from (:func:`~spinlock.vqvae.data.load_table`): training
        batches are then read from it through a :class:`~spinlock.vqvae.dataset.FeatureDataset` with
        ``training.num_workers`` DataLoader workers instead of from memory (same values, same results).

    Under ``torchrun`` (see :mod:`spinlock.core.distributed`) every rank calls this with the same arguments:
    the preprocessing is fitted on rank 0 and broadcast, each global batch is split across ranks,
    gradients are averaged by DistributedDataParallel, the codebooks' EMA statistics are summed over ranks,
    metrics and early stopping are decided on all ranks alike, and only rank 0 writes ``output`` and
    reports progress. With one process nothing of this changes the single-process computation.
    """
    with distributed.process_group(config.training.device) as ctx:
        if not ctx.is_main:
            progress, log = SilentProgress(), _quiet
        result = _train_tokenizer(
            table,
            config,
            Path(output),
            ctx,
            config_yaml=config_yaml,
            provenance=dict(provenance or {}),
            resume=resume,
            progress=progress or SilentProgress(),
            log=log,
            dataset=dataset,
        )
        distributed.barrier()  # rank 0's files are complete when any rank returns
        return result


def _fitted_tokenizer(
    table: FeatureTable, config: TokenizerConfig, train_index: np.ndarray, ctx: distributed.DistributedContext
) -> tuple[Cleaner, CategoryMap, TemporalScaler | None, CategoryMap | None]:
    """The preprocessing fitted on rank 0 and shared, so that every rank builds the same model."""
    if not ctx.is_distributed:
        return fit_preprocessing(table, config, train_index)
    fitted = None
    if ctx.is_main:
        cleaner, categories, scaler, temporal_categories = fit_preprocessing(table, config, train_index)
        fitted = (
            cleaner.to_state(),
            categories.to_state(),
            None if scaler is None else scaler.to_state(),
            None if temporal_categories is None else temporal_categories.to_state(),
        )
    states = distributed.broadcast_object(fitted)
    cleaner_state, categories_state, scaler_state, temporal_state = states  # type: ignore[misc]
    return (
        Cleaner.from_state(cleaner_state),
        CategoryMap.from_state(categories_state),
        None if scaler_state is None else TemporalScaler.from_state(scaler_state),
        None if temporal_state is None else CategoryMap.from_state(temporal_state),
    )


def _training_data(
    table: FeatureTable,
    config: TokenizerConfig,
    tokenizer: Tokenizer,
    static: torch.Tensor,
    temporal: torch.Tensor | None,
    dataset: str | Path | None,
) -> Dataset[FeatureBatch]:
    """The Dataset the training batches come from: the file (read per batch) or the inputs in memory."""
    if dataset is not None:
        families = config.families
        transform = FeatureTransform(tokenizer.cleaner, tokenizer.scaler)
        return FeatureDataset(dataset, families.static_families(), families.temporal, table.rows, transform)
    if config.training.num_workers > 0:  # workers cannot share CUDA tensors
        static, temporal = static.cpu(), None if temporal is None else temporal.cpu()
    return TensorFeatureDataset(static, temporal)


def _train_tokenizer(
    table: FeatureTable,
    config: TokenizerConfig,
    out: Path,
    ctx: distributed.DistributedContext,
    *,
    config_yaml: str,
    provenance: dict[str, str],
    resume: bool,
    progress: EpochProgress,
    log: Callable[[str], None],
    dataset: str | Path | None,
) -> TrainResult:
    began = time.perf_counter()
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
    t = config.training
    device = ctx.device(t.device)

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
        cleaner, categories, scaler, temporal_categories = _fitted_tokenizer(table, config, train_index, ctx)
        temporal_note = (
            f" + {temporal_categories.n_categories} TEMPORAL" if temporal_categories is not None else ""
        )
        log(
            f"cleaning kept {cleaner.n_features_out} of {cleaner.n_features_in} columns; "
            f"{categories.n_categories} categories{temporal_note}{_nonfinite_note(cleaner)}"
        )
        model = HierarchicalVQVAE(
            [list(c.indices) for c in categories.categories],
            None if temporal_categories is None else len(temporal_categories.names),
            config.model,
            None
            if temporal_categories is None
            else [list(c.indices) for c in temporal_categories.categories],
        )
        tokenizer = Tokenizer(
            config, cleaner, categories, scaler, model, table.temporal_names, temporal_categories
        )
    model.to(device)
    static, temporal = tokenizer.inputs(table)
    optimizer = torch.optim.AdamW(model.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay)
    tracker = BestModelTracker(model, t.patience, monitor="objective")
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        tracker.resume(
            state, load_checkpoint(out / MODEL_FILE).weights if (out / MODEL_FILE).exists() else None
        )
    if t.compile:
        model.compile_networks()
    step_model = distributed.data_parallel(model, device)

    sampler = GlobalBatchSampler(
        train_index,
        t.batch_size,
        t.seed,
        rank=ctx.rank,
        world_size=ctx.world_size,
        merge_small_tail=True,
        min_shard=1,
    )
    loader = make_loader(
        _training_data(table, config, tokenizer, static, temporal, dataset),
        sampler,
        num_workers=t.num_workers,
        pin_memory=device.type == "cuda" and t.num_workers > 0,
    )
    val_static = static[torch.from_numpy(val_index).to(static.device)] if len(val_index) else None
    val_temporal = (
        temporal[torch.from_numpy(val_index).to(temporal.device)]
        if temporal is not None and len(val_index)
        else None
    )
    stopped_early = False
    progress.start(t.epochs, tracker.first_epoch)
    try:
        for epoch in range(tracker.first_epoch, t.epochs):
            if tracker.exhausted:
                stopped_early = True
                break
            torch.manual_seed(epoch_seed(t.seed, epoch))
            sampler.set_epoch(epoch)
            global_sizes = [len(batch) for batch in sampler.global_batches(epoch)]
            lr = cosine_learning_rate(t.learning_rate, t.min_lr_ratio, epoch, t.epochs)
            for group in optimizer.param_groups:
                group["lr"] = lr
            step_model.train()
            sums: dict[str, float] = {}
            for batch, n_global in zip(loader, global_sizes, strict=True):
                batch_static = batch.static.to(device, non_blocking=True)
                batch_temporal = (
                    None if batch.temporal is None else batch.temporal.to(device, non_blocking=True)
                )
                # under DDP a rank's share of the global batch mean: gradients averaged over ranks are
                # then the global batch's even when shard sizes differ by one
                share = batch_static.shape[0] / n_global
                out_b = step_model(batch_static, batch_temporal)
                loss = out_b.losses.total
                if distributed.any_rank(not bool(torch.isfinite(loss))):
                    terms = {k: float(v) for k, v in out_b.losses._asdict().items()}
                    where = (
                        f" (on one of {ctx.world_size} ranks; rank {ctx.rank}'s terms)"
                        if ctx.is_distributed
                        else ""
                    )
                    raise TrainingError(f"non-finite loss at epoch {epoch}{where}: {terms}")
                optimizer.zero_grad(set_to_none=True)
                (loss * (share * ctx.world_size) if ctx.is_distributed else loss).backward()
                if t.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
                optimizer.step()
                for k, v in out_b.losses._asdict().items():
                    value = float(v.detach()) * share if ctx.is_distributed else float(v.detach())
                    sums[k] = sums.get(k, 0.0) + value
            sums = distributed.all_reduce_floats(sums)
            record: dict[str, Any] = {"epoch": epoch, "lr": lr}
            record.update({f"train_{k}": v / len(global_sizes) for k, v in sums.items()})
            if val_static is not None or val_temporal is not None:
                record.update(
                    {f"val_{k}": v for k, v in _evaluate_shards(model, val_static, val_temporal, ctx).items()}
                )
            # rank 0's record decides for everyone, so no rank can take another early-stopping branch
            record = distributed.broadcast_object(record)
            if tracker.update(record) and ctx.is_main:
                _save(out / MODEL_FILE, config_yaml, provenance, tokenizer, tracker.best_weights, None)
            training_state = {
                **tracker.state(epoch),
                "optimizer": optimizer.state_dict(),
                "n_samples": len(table),
            }
            if ctx.is_main:
                _save(out / LAST_FILE, config_yaml, provenance, tokenizer, model.state_dict(), training_state)
            progress.epoch(record)
    finally:
        progress.stop()
        model.eager_networks()
        if isinstance(loader.dataset, FeatureDataset):
            loader.dataset.close()
    if ctx.is_main:
        (out / "history.json").write_text(json.dumps(tracker.history, indent=1))
        (out / "config.yaml").write_text(config_yaml)
    model.load_state_dict(tracker.best_weights)
    model.eval()
    return TrainResult(
        tokenizer=tokenizer,
        train_index=train_index,
        validation_index=val_index,
        history=tracker.history,
        best_epoch=tracker.best_epoch,
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
        kwargs.setdefault("dataset", dataset)
        return train_tokenizer(table, self.config, output, config_yaml=text, **kwargs)

    @staticmethod
    def load(directory: str | Path, device: str = "cpu") -> Tokenizer:
        """A trained tokenizer from its output directory."""
        return Tokenizer.load(directory, device)
