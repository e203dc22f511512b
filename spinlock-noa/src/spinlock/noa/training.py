"""Training the agent against a dataset's operators and a frozen tokenizer, with checkpoints and resume.

:func:`train_noa`:

1. loads the frozen tokenizer and builds its feature families with the dataset's configs
   (:mod:`spinlock.noa.alignment`), refusing a dataset whose feature columns differ from the tokenizer's;
2. reads (or replays) the realization-mean target trajectories and precomputes their latents
   (:mod:`spinlock.noa.data`);
3. splits the operators (seeded) into training and validation;
4. trains :class:`~spinlock.noa.backbone.NOABackbone` with AdamW, a per-epoch cosine schedule and gradient
   clipping; after every epoch the validation terms are recorded in ``history.json`` with the
   "predict u0 forever" baseline, the best model goes to ``model.pt`` and the latest state (optimizer,
   history) to ``last.pt``. Epoch e's batch order is seeded by (seed, e), so ``resume=True`` after an
   interruption reproduces the uninterrupted loss curve.

A non-finite loss or gradient is never skipped: training stops with a :class:`TrainingError` naming the
epoch, the batch, every loss term and the parameters whose gradients are not finite.
"""

from __future__ import annotations

import json
import math
import shutil
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
from spinlock.core.plugins import PluginManager
from spinlock.core.training import (
    BestModelTracker,
    EpochProgress,
    SilentProgress,
    cosine_learning_rate,
    epoch_seed,
    seeded_split,
)
from spinlock.noa.alignment import TokenizerAlignment, build_feature_pipeline
from spinlock.noa.backbone import NOABackbone, parameter_count
from spinlock.noa.checkpoint import (
    LAST_FILE,
    MODEL_FILE,
    TOKENIZER_FILE,
    file_digest,
    load_checkpoint,
    save_checkpoint,
)
from spinlock.noa.config import NOAConfig
from spinlock.noa.data import NOAData, dataset_family_builder, dataset_info, load_data
from spinlock.noa.dataset import MemoryTrajectoryDataset, TrajectoryBatch, TrajectoryDataset
from spinlock.noa.losses import LossTerms, NOALoss, trajectory_error

TERMS: tuple[str, ...] = ("total", "trajectory", "latent", "commitment")
_ADVICE = "lower the learning rate or grad_clip, shorten bptt_window, or check the dataset"


class TrainingError(RuntimeError):
    """Training cannot continue (non-finite loss, a resume that does not match, ...)."""


@attrs.frozen(eq=False)
class TrainResult:
    """What a training run produced (``backbone`` holds the best weights, in eval mode)."""

    backbone: NOABackbone
    history: list[dict[str, Any]]
    best_epoch: int
    stopped_early: bool
    seconds: float
    train_rows: np.ndarray
    validation_rows: np.ndarray
    n_parameters: int


class _Batch:
    """One batch of the data, on the training device."""

    def __init__(self, data: NOAData, batch: TrajectoryBatch, device: torch.device) -> None:
        idx = batch.positions
        self.size = int(idx.shape[0])
        self.theta = batch.theta.to(device)
        self.u0 = batch.u0.to(device)
        self.target = batch.target.to(device)
        self.scale = data.scale[idx].to(device)
        self.fixed = None if data.fixed is None else data.fixed[idx].to(device)
        self.latents = None if data.target_latents is None else data.target_latents[idx].to(device)

    def terms(
        self, backbone: NOABackbone, loss: NOALoss, data: NOAData, config: NOAConfig, where: str
    ) -> LossTerms:
        """Roll out and score the batch; a diverging rollout raises :class:`TrainingError` naming ``where``."""
        t = config.training
        prediction = backbone.rollout(
            self.u0,
            self.theta,
            data.info.steps,
            stride=data.info.stride,
            bptt_window=t.bptt_window,
            gradient_checkpointing=t.gradient_checkpointing,
        )
        finite = torch.isfinite(prediction.detach()).flatten(2).all(dim=2).all(dim=0)
        if not bool(finite.all()):
            frame = int(torch.nonzero(~finite)[0, 0])
            raise TrainingError(
                f"non-finite prediction at {where}: the agent's rollout diverged at stored frame {frame} "
                f"(state step {frame * data.info.stride}); {_ADVICE}"
            )
        try:
            return loss(
                prediction, self.target, scale=self.scale, fixed=self.fixed, target_latents=self.latents
            )
        except torch.linalg.LinAlgError as exc:
            largest = float(prediction.detach().abs().max())
            raise TrainingError(
                f"the features of the predicted rollout cannot be computed at {where} (max |u| = {largest:.3g}: "
                f"{str(exc).splitlines()[0]}); {_ADVICE}"
            ) from None


def training_source(data: NOAData) -> Dataset[TrajectoryBatch]:
    """Where batches come from: the dataset file when it stored trajectories, else the replayed targets
    in memory."""
    if data.info.trajectories_stored:
        return TrajectoryDataset(data.info.path, data.rows)
    return MemoryTrajectoryDataset(data)


def evaluate(
    backbone: NOABackbone,
    loss: NOALoss,
    data: NOAData,
    index: np.ndarray,
    config: NOAConfig,
    device: torch.device,
    epoch: int = -1,
    source: Dataset[TrajectoryBatch] | None = None,
) -> dict[str, float]:
    """Mean loss terms over the operators at positions ``index`` (no gradient), and the scaled trajectory
    error of predicting ``u0`` forever (``persistence_trajectory``).

    :param source: where batches are read (default: :func:`training_source` of ``data``).
    """
    source = source if source is not None else training_source(data)
    backbone.eval()
    sums = dict.fromkeys(TERMS, 0.0)
    persistence = 0.0
    with torch.no_grad():
        for start in range(0, len(index), config.training.batch_size):
            part = index[start : start + config.training.batch_size]
            batch = _Batch(data, source.__getitems__(part.tolist()), device)  # type: ignore[attr-defined]
            where = f"epoch {epoch}, validation batch {start // config.training.batch_size}"
            terms = batch.terms(backbone, loss, data, config, where)
            for key, value in terms.as_floats().items():
                sums[key] += value * len(part)
            still = batch.u0[:, None].expand_as(batch.target)
            persistence += float(trajectory_error(still, batch.target, batch.scale)) * len(part)
    out = {key: value / len(index) for key, value in sums.items()}
    out["persistence_trajectory"] = persistence / len(index)
    return out


def _evaluate_shards(
    backbone: NOABackbone,
    loss: NOALoss,
    data: NOAData,
    index: np.ndarray,
    config: NOAConfig,
    device: torch.device,
    epoch: int,
    source: Dataset[TrajectoryBatch],
    ctx: distributed.DistributedContext,
) -> dict[str, float]:
    """:func:`evaluate` over ``index``; under DDP each rank scores a contiguous shard and the row-weighted
    means are summed over ranks (a failure on any rank stops every rank)."""
    if not ctx.is_distributed:
        return evaluate(backbone, loss, data, index, config, device, epoch, source)
    part = np.array_split(index, ctx.world_size)[ctx.rank]
    sums = dict.fromkeys((*TERMS, "persistence_trajectory"), 0.0)
    error: str | None = None
    if len(part):
        try:
            local = evaluate(backbone, loss, data, part, config, device, epoch, source)
            sums = {key: value * len(part) for key, value in local.items()}
        except TrainingError as exc:
            error = str(exc)
    if distributed.any_rank(error is not None):
        raise TrainingError(error or f"validation failed on another rank at epoch {epoch}")
    return {key: value / len(index) for key, value in distributed.all_reduce_floats(sums).items()}


def _nonfinite_report(
    epoch: int, batch: int, terms: LossTerms, backbone: NOABackbone, grad_norm: float | None
) -> str:
    values = ", ".join(f"{k} {v:.6g}" for k, v in terms.as_floats().items())
    message = f"non-finite {'gradient' if grad_norm is not None else 'loss'} at epoch {epoch}, batch {batch}"
    message += f" (loss terms: {values}"
    if grad_norm is not None:
        bad = [
            name
            for name, p in backbone.named_parameters()
            if p.grad is not None and not bool(torch.isfinite(p.grad).all())
        ]
        message += f"; gradient norm {grad_norm}; non-finite gradients in {bad[:8]}"
        if len(bad) > 8:
            message += f" and {len(bad) - 8} more"
    return f"{message}); {_ADVICE}"


def _step(
    backbone: NOABackbone,
    optimizer: torch.optim.Optimizer,
    loss: NOALoss,
    data: NOAData,
    config: NOAConfig,
    shard: TrajectoryBatch,
    n_global: int,
    device: torch.device,
    ctx: distributed.DistributedContext,
    epoch: int,
    number: int,
) -> LossTerms | None:
    """One optimisation step on this rank's shard of a global batch of ``n_global`` operators; ``None``
    for a rank whose shard is empty (it still joins the gradient sum with zeros).

    Under DDP the loss is weighted by the shard's share of the global batch and the gradients are summed
    over ranks, which gives the global batch's gradient; any failure on any rank stops every rank."""
    t = config.training
    n_local = int(shard.positions.shape[0])
    terms: LossTerms | None = None
    error: str | None = None
    if n_local:
        try:
            terms = _Batch(data, shard, device).terms(
                backbone, loss, data, config, f"epoch {epoch}, batch {number}"
            )
        except TrainingError as exc:
            if not ctx.is_distributed:
                raise
            error = str(exc)
        if terms is not None and not bool(torch.isfinite(terms.total)):
            error = _nonfinite_report(epoch, number, terms, backbone, None)
    if distributed.any_rank(error is not None):
        raise TrainingError(error or f"a non-finite loss on another rank at epoch {epoch}, batch {number}")
    optimizer.zero_grad(set_to_none=True)
    if terms is not None:
        (terms.total * (n_local / n_global) if ctx.is_distributed else terms.total).backward()
    distributed.all_reduce_gradients_(backbone.parameters())
    norm = torch.nn.utils.clip_grad_norm_(backbone.parameters(), t.grad_clip or math.inf)
    if not bool(torch.isfinite(norm)):
        report = (
            _nonfinite_report(epoch, number, terms, backbone, float(norm))
            if terms is not None
            else f"non-finite gradient at epoch {epoch}, batch {number}; {_ADVICE}"
        )
        raise TrainingError(report)
    optimizer.step()
    return terms


def train_noa(
    dataset: str | Path,
    tokenizer_dir: str | Path,
    output: str | Path,
    config: NOAConfig,
    *,
    config_yaml: str,
    manager: PluginManager,
    provenance: Mapping[str, str] | None = None,
    resume: bool = False,
    progress: EpochProgress | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> TrainResult:
    """Train (or, with ``resume``, finish training) an agent into the directory ``output``.

    :param dataset: the dataset whose operators the agent learns (HDF5).
    :param tokenizer_dir: output directory of ``spinlock train-vqvae`` (or its ``model.pt``), trained on
        this dataset's features; it is copied to ``output/tokenizer.pt`` and never modified.
    :param config_yaml: the YAML text of ``config`` (stored; a resume must use the same).
    :param manager: plugin manager (feature families, operators for replay).
    :raises TrainingError: non-finite loss or gradient, or a resume that does not match.
    :raises ValueError: a dataset or tokenizer that does not fit (shapes, feature columns, grid).

    Under ``torchrun`` (see :mod:`spinlock.core.distributed`) every rank calls this with the same arguments:
    each global batch is split across ranks, the gradients are summed over ranks after the backward pass
    (each rank's loss weighted by its share of the batch), metrics and early stopping are decided on all
    ranks alike, and only rank 0 writes ``output`` and reports progress. With one process nothing of this
    changes the single-process computation.
    """
    progress = progress or SilentProgress()
    t = config.training
    provenance = dict(provenance or {})
    with distributed.process_group(t.device) as ctx:
        if not ctx.is_main:
            progress, log = SilentProgress(), _quiet
        result = _train_noa(
            dataset,
            tokenizer_dir,
            Path(output),
            config,
            ctx,
            config_yaml=config_yaml,
            manager=manager,
            provenance=provenance,
            resume=resume,
            progress=progress,
            log=log,
        )
        distributed.barrier()  # rank 0's files are complete when any rank returns
        return result


def _quiet(message: str) -> None:
    pass


def _train_noa(
    dataset: str | Path,
    tokenizer_dir: str | Path,
    out: Path,
    config: NOAConfig,
    ctx: distributed.DistributedContext,
    *,
    config_yaml: str,
    manager: PluginManager,
    provenance: dict[str, str],
    resume: bool,
    progress: EpochProgress,
    log: Callable[[str], None],
) -> TrainResult:
    from spinlock.vqvae.checkpoint import model_path as tokenizer_path
    from spinlock.vqvae.tokenizer import Tokenizer

    began = time.perf_counter()
    t = config.training
    device = ctx.device(t.device)
    source = tokenizer_path(tokenizer_dir)
    tokenizer = Tokenizer.load(source)
    digest = file_digest(source)
    state: dict[str, Any] | None = None
    last = None
    if resume:
        last = load_checkpoint(out / LAST_FILE)
        if last.config_yaml != config_yaml:
            raise TrainingError(
                f"{out / LAST_FILE} was trained with another config; resume needs the same one"
            )
        if last.agent.get("tokenizer_sha256") != digest:
            raise TrainingError(f"{out / LAST_FILE} was trained against another tokenizer than {source}")
        state = last.training
        if state is None:
            raise TrainingError(f"{out / LAST_FILE} holds no training state to resume from")

    info, run_config = dataset_info(dataset, manager)
    uses_tokenizer = config.loss.uses_tokenizer
    if uses_tokenizer and info.stored_frames < 3:
        raise ValueError(
            f"{dataset}: the tokenizer's features need at least 3 stored frames, the dataset has "
            f"{info.stored_frames}"
        )
    pipeline = build_feature_pipeline(
        tokenizer,
        dataset_family_builder(run_config, manager),
        realizations=info.realizations,
        stride=info.stride,
    )
    alignment = TokenizerAlignment(tokenizer).to(device)
    backbone = NOABackbone(info.channels, len(info.parameter_names), info.grid, config.backbone, seed=t.seed)
    data = load_data(
        dataset,
        manager,
        pipeline=pipeline if uses_tokenizer else None,
        alignment=alignment if uses_tokenizer else None,
        device=device,
        log=log,
        keep_target=False,
    )
    train_index, val_index = seeded_split(len(data), t.validation_fraction, t.seed)
    loss = NOALoss(
        config.loss,
        pipeline if uses_tokenizer else None,
        alignment if uses_tokenizer else None,
        realizations=info.realizations,
    )
    agent: dict[str, Any] = {
        "parameter_names": list(info.parameter_names),
        "channels": info.channels,
        "grid": list(info.grid),
        "steps": info.steps,
        "stride": info.stride,
        "realizations": info.realizations,
        "dataset": str(Path(dataset).resolve()),
        "tokenizer_sha256": digest,
        "n_parameters": parameter_count(backbone),
    }
    rows = [int(r) for r in data.rows]
    if last is not None and state is not None:
        if state.get("rows") != rows:
            raise TrainingError(
                f"the dataset's usable operators differ from those the run in {out} started on"
            )
        backbone.load_state_dict(last.weights)
        log(f"resuming after epoch {state['epoch']}")
    elif ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, out / TOKENIZER_FILE)
    backbone.to(device)
    optimizer = torch.optim.AdamW(backbone.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay)
    tracker = BestModelTracker(backbone, t.patience)
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        tracker.resume(
            state, load_checkpoint(out / MODEL_FILE).weights if (out / MODEL_FILE).exists() else None
        )

    def save(path: Path, weights: Mapping[str, torch.Tensor], training: Mapping[str, Any] | None) -> None:
        save_checkpoint(
            path,
            config_yaml=config_yaml,
            provenance=provenance,
            agent=agent,
            weights=weights,
            training=training,
        )

    sampler = GlobalBatchSampler(train_index, t.batch_size, t.seed, rank=ctx.rank, world_size=ctx.world_size)
    batches = training_source(data)
    loader = make_loader(
        batches, sampler, num_workers=t.num_workers, pin_memory=device.type == "cuda" and t.num_workers > 0
    )
    stopped_early = False
    progress.start(t.epochs, tracker.first_epoch)
    try:
        for epoch in range(tracker.first_epoch, t.epochs):
            if tracker.exhausted:
                stopped_early = True
                break
            seed = epoch_seed(t.seed, epoch)
            torch.manual_seed(seed)
            sampler.set_epoch(epoch)
            global_sizes = [len(batch) for batch in sampler.global_batches(epoch)]
            lr = cosine_learning_rate(t.learning_rate, t.min_lr_ratio, epoch, t.epochs)
            for group in optimizer.param_groups:
                group["lr"] = lr
            backbone.train()
            sums = dict.fromkeys(TERMS, 0.0)
            for number, (shard, n_global) in enumerate(zip(loader, global_sizes, strict=True)):
                terms = _step(
                    backbone, optimizer, loss, data, config, shard, n_global, device, ctx, epoch, number
                )
                if terms is not None:
                    for key, value in terms.as_floats().items():
                        sums[key] += value * int(shard.positions.shape[0])
            sums = distributed.all_reduce_floats(sums)
            record: dict[str, Any] = {"epoch": epoch, "lr": lr}
            record.update({f"train_{k}": v / len(train_index) for k, v in sums.items()})
            if len(val_index):
                record.update(
                    {
                        f"val_{k}": v
                        for k, v in _evaluate_shards(
                            backbone, loss, data, val_index, config, device, epoch, batches, ctx
                        ).items()
                    }
                )
            # rank 0's record decides for everyone, so no rank can take another early-stopping branch
            record = distributed.broadcast_object(record)
            if tracker.update(record) and ctx.is_main:
                save(out / MODEL_FILE, tracker.best_weights, None)
            training_state = {**tracker.state(epoch), "optimizer": optimizer.state_dict(), "rows": rows}
            if ctx.is_main:
                save(out / LAST_FILE, backbone.state_dict(), training_state)
                (out / "history.json").write_text(json.dumps(tracker.history, indent=1))
            progress.epoch(record)
    finally:
        progress.stop()
        if isinstance(batches, TrajectoryDataset):
            batches.close()
    if ctx.is_main:
        (out / "history.json").write_text(json.dumps(tracker.history, indent=1))
        (out / "config.yaml").write_text(config_yaml)
    backbone.load_state_dict(tracker.best_weights)
    backbone.eval()
    return TrainResult(
        backbone=backbone,
        history=tracker.history,
        best_epoch=tracker.best_epoch,
        stopped_early=stopped_early,
        seconds=time.perf_counter() - began,
        train_rows=data.rows[train_index],
        validation_rows=data.rows[val_index],
        n_parameters=int(agent["n_parameters"]),
    )


class NOAEncoder:
    """The registered ``noa`` encoder: a :class:`NOAConfig` that can train and load agents."""

    def __init__(self, config: NOAConfig | None = None) -> None:
        self.config = config if config is not None else NOAConfig()

    def train(
        self, dataset: str | Path, tokenizer: str | Path, output: str | Path, **kwargs: Any
    ) -> TrainResult:
        """Train on a dataset's operators against the tokenizer in ``tokenizer`` into ``output``."""
        from spinlock.core.config import dump_config, make_converter
        from spinlock.core.plugins import build_plugin_manager

        manager = kwargs.pop("manager", None) or build_plugin_manager()
        text = dump_config(self.config, make_converter())
        return train_noa(dataset, tokenizer, output, self.config, config_yaml=text, manager=manager, **kwargs)

    @staticmethod
    def load(directory: str | Path, device: str = "cpu") -> Any:
        """A trained agent from its output directory (see :func:`spinlock.noa.predict.load_agent`)."""
        from spinlock.noa.predict import load_agent

        return load_agent(directory, device)
