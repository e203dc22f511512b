"""Training data of the agent: (θ, u0) of each operator and the trajectory it must predict.

**The targets are the dataset's own operators**, never look-alikes (BUG-24): the stored
``/trajectories/fields`` when the dataset kept them, otherwise the same operators recomputed by
:func:`replay_trajectories`, which reruns their original batches with the stored config, seed and compute
plan and reproduces the stored states bit for bit (tested).

**Target choice: the realization mean.** A dataset's operator is stochastic: its M realizations share
``u0`` and θ and differ only by the injected noise. The agent is deterministic, so the best it can predict
from (θ, u0) in mean square is the conditional mean of the state, and the realization mean is the unbiased,
M-times-less-noisy estimate of it (training on one realization would fit the noise; the mean-square optimum
of training on all of them is this same mean). The spread between realizations is therefore not predicted.

**Features of a mean trajectory.** The tokenizer's columns depend on M (SUMMARY aggregates over
realizations), so a mean trajectory enters the features as M identical realizations. The target's latents
are computed the same way, so the alignment compares like with like: both sides have zero spread, and the
spread columns (``*_std``, ``*_cv``, ``ensemble_*``) sit at the same capped values on both sides.

Only samples that are complete and whose rollout status is ``ok`` are used (diverged operators have frozen
states and no meaningful dynamics; the tokenizer skips them too).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch

from spinlock.core.config import RunConfig, loads_config, make_converter
from spinlock.core.features import FeatureFamily, FeatureInputs
from spinlock.core.plugins import PluginManager
from spinlock.core.registry import ComponentKind
from spinlock.core.storage import DatasetReader, open_dataset
from spinlock.noa.alignment import FeaturePipeline, TokenizerAlignment

#: operators per chunk when reading trajectories and computing target features
CHUNK = 64
#: the per-sample trajectory scale never falls below this share of the dataset's median scale
SCALE_FLOOR = 1e-3


def run_config(reader: DatasetReader, manager: PluginManager) -> RunConfig:
    """The config a dataset was generated from (structured with the installed components)."""
    return loads_config(
        reader.config_yaml,
        RunConfig,
        make_converter(manager.components),
        f"{reader.path} (stored config)",
    )


def dataset_family_builder(config: RunConfig, manager: PluginManager) -> Callable[[str], FeatureFamily]:
    """``name → family`` built with the params of the dataset's ``features`` section (defaults otherwise,
    as ``spinlock extract`` uses)."""
    params = {ref.kind: ref.params for ref in config.features}

    def build(name: str) -> FeatureFamily:
        spec = manager.get(ComponentKind.FEATURE_FAMILY, name)
        family: FeatureFamily = spec.build(params.get(name))
        return family

    return build


def usable_rows(reader: DatasetReader) -> np.ndarray:
    """Rows that are complete and whose rollout status is ``ok``."""
    done = np.asarray(reader.done(), dtype=bool)
    status = np.asarray(reader.status())
    return np.flatnonzero(done & (status == "ok"))


def replay_trajectories(
    path: str | Path, indices: Sequence[int], manager: PluginManager
) -> Iterator[tuple[int, np.ndarray]]:
    """Recompute operators of a dataset and yield ``(index, trajectory (M, T', C, H, W))`` per index.

    Works whether or not the dataset stored its trajectories (deterministic replay of the true operators,
    bit-identical to what the generator produced; see
    :func:`spinlock.operators.generation.pipeline.iter_replay`). Indices come out in batch order.
    """
    from spinlock.operators.generation.pipeline import iter_replay

    for index, arrays in iter_replay(path, indices, manager):
        yield index, np.asarray(arrays["trajectories"], dtype=np.float32)


def iter_trajectories(
    path: str | Path, rows: np.ndarray, manager: PluginManager, chunk: int = CHUNK
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(rows_chunk, trajectories (n, M, T', C, H, W) float32)`` until every row of ``rows`` came once.

    Stored trajectories are read in the order of ``rows``; otherwise the operators are replayed
    (:func:`replay_trajectories`) and come in the generator's batch order (grouped by architecture), so
    callers must place chunks by their rows.
    """
    with open_dataset(path) as reader:
        if reader.has_trajectories:
            for start in range(0, len(rows), chunk):
                part = rows[start : start + chunk]
                values = reader.trajectories(part)
                assert values is not None
                yield part, np.asarray(values, dtype=np.float32)
            return
    pending: dict[int, np.ndarray] = {}
    for index, trajectory in replay_trajectories(path, [int(r) for r in rows], manager):
        pending[index] = trajectory
        if len(pending) >= chunk:
            yield np.asarray(list(pending)), np.stack(list(pending.values()))
            pending = {}
    if pending:
        yield np.asarray(list(pending)), np.stack(list(pending.values()))


def read_trajectories(path: str | Path, rows: np.ndarray, manager: PluginManager) -> np.ndarray:
    """Trajectories ``(n, M, T', C, H, W)`` float32 of ``rows`` (distinct), in that order."""
    position = {int(r): k for k, r in enumerate(rows)}
    out: np.ndarray | None = None
    for part, values in iter_trajectories(path, rows, manager):
        if out is None:
            out = np.empty((len(rows), *values.shape[1:]), dtype=np.float32)
        out[[position[int(r)] for r in part]] = values
    assert out is not None
    return out


def as_ensemble(trajectory: torch.Tensor, realizations: int) -> torch.Tensor:
    """``(batch, T', C, H, W)`` → ``(batch, M, T', C, H, W)``: M identical realizations (see the module
    docstring)."""
    return trajectory.unsqueeze(1).expand(-1, realizations, *trajectory.shape[1:]).contiguous()


@attrs.frozen(eq=False)
class DatasetInfo:
    """What the agent needs to know about a dataset's operators.

    :param path: the dataset file.
    :param parameter_names: names of the unit-cube θ columns ``P``.
    :param channels: ``C``.
    :param grid: ``(height, width)``.
    :param steps: ``T``, states per rollout including ``u0``.
    :param stride: states between stored frames.
    :param realizations: ``M``.
    :param trajectories_stored: whether targets are read (else replayed).
    """

    path: Path
    parameter_names: tuple[str, ...]
    channels: int
    grid: tuple[int, int]
    steps: int
    stride: int
    realizations: int
    trajectories_stored: bool

    @property
    def stored_frames(self) -> int:
        """``T' = ceil(T / stride)``."""
        return len(range(0, self.steps, self.stride))


def dataset_info(path: str | Path, manager: PluginManager) -> tuple[DatasetInfo, RunConfig]:
    """Shapes and rollout settings of a dataset, and its config."""
    with open_dataset(path) as reader:
        config = run_config(reader, manager)
        channels, height, width = (int(v) for v in reader.ic_shape)
        info = DatasetInfo(
            path=Path(path),
            parameter_names=tuple(reader.parameter_names),
            channels=channels,
            grid=(height, width),
            steps=config.rollout.steps,
            stride=config.storage.trajectory_stride,
            realizations=config.rollout.realizations,
            trajectories_stored=reader.has_trajectories,
        )
        shape = reader.trajectory_shape
    if shape is not None and (shape[1], shape[2]) != (info.realizations, info.stored_frames):
        raise ValueError(
            f"{path}: stored trajectories {shape} disagree with the config (M={info.realizations}, "
            f"T'={info.stored_frames})"
        )
    return info, config


@attrs.frozen(eq=False)
class NOAData:
    """In-memory training data of N operators (float32 tensors on CPU).

    :param info: the dataset's shapes and rollout settings.
    :param rows: dataset rows of the N operators ``(N,)``.
    :param theta: unit-cube θ ``(N, P)``.
    :param u0: initial conditions ``(N, C, H, W)``.
    :param target: realization-mean stored states ``(N, T', C, H, W)`` (frame 0 is ``u0``), or ``None``
        when loaded with ``keep_target=False`` (training then reads them per batch from the file, see
        :class:`spinlock.noa.dataset.TrajectoryDataset`).
    :param scale: per-sample, per-channel rms of the target ``(N, C)`` (floored), for the scaled MSE.
    :param fixed: the tokenizer's static columns that do not depend on the rollout ``(N, D_fixed)``, or
        ``None`` without a tokenizer.
    :param target_latents: the frozen tokenizer's latents of the target ``(N, Z)``, or ``None``.
    """

    info: DatasetInfo
    rows: np.ndarray
    theta: torch.Tensor
    u0: torch.Tensor
    target: torch.Tensor | None
    scale: torch.Tensor
    fixed: torch.Tensor | None
    target_latents: torch.Tensor | None

    def __len__(self) -> int:
        return int(self.rows.shape[0])


def fixed_inputs(reader: DatasetReader, rows: np.ndarray, stride: int) -> FeatureInputs:
    """What the rollout-independent families read, for ``rows`` of a dataset."""
    return FeatureInputs(
        initial_condition=torch.from_numpy(np.asarray(reader.initial_conditions(rows), dtype=np.float32)),
        parameters=reader.parameters(rows),
        parameter_space=reader.parameter_space or (),
        status=["ok"] * len(rows),
        time_stride=stride,
    )


def probe_inputs(info: DatasetInfo, reader: DatasetReader, row: int) -> FeatureInputs:
    """A one-operator batch with the dataset's shapes (for column checks)."""
    inputs = fixed_inputs(reader, np.asarray([row]), info.stride)
    trajectory = torch.zeros(1, info.realizations, info.stored_frames, info.channels, *info.grid)
    return attrs.evolve(inputs, trajectory=trajectory)


@torch.no_grad()
def target_latents(
    pipeline: FeaturePipeline,
    alignment: TokenizerAlignment,
    trajectory: torch.Tensor,
    fixed: torch.Tensor,
    u0: torch.Tensor,
) -> torch.Tensor:
    """Latents ``(batch, Z)`` of trajectories ``(batch, M, T', C, H, W)`` (no gradient)."""
    static, temporal = pipeline.features(trajectory, fixed, u0)
    return alignment(static, temporal).latents


def load_data(
    path: str | Path,
    manager: PluginManager,
    *,
    pipeline: FeaturePipeline | None = None,
    alignment: TokenizerAlignment | None = None,
    rows: np.ndarray | None = None,
    device: str | torch.device = "cpu",
    log: Callable[[str], None] = lambda message: None,
    keep_target: bool = True,
) -> NOAData:
    """Read (or replay) the targets of a dataset's usable operators and, with a tokenizer, their latents.

    :param pipeline: the tokenizer's feature families (see :func:`spinlock.noa.alignment.build_feature_pipeline`).
    :param alignment: the frozen tokenizer; with ``pipeline``, target latents are computed.
    :param rows: dataset rows to use (default: every complete operator with status ``ok``).
    :param device: where target features and latents are computed (results are stored on CPU).
    :param keep_target: keep the targets in memory; off, only their per-sample scale and latents are kept
        (the targets are streamed through once) and ``target`` is ``None``. Replayed datasets always keep
        them (they cannot be read back from the file).
    :raises ValueError: no usable operator, a trajectory too short for the tokenizer's features, or
        features that do not match the tokenizer's columns.
    """
    info, _ = dataset_info(path, manager)
    with open_dataset(path) as reader:
        usable = usable_rows(reader)
        if rows is None:
            rows = usable
        else:
            rows = np.asarray(rows, dtype=np.int64)
            bad = sorted(set(rows.tolist()) - set(usable.tolist()))
            if bad:
                raise ValueError(f"{path}: operators {bad[:5]} are not complete with status ok")
        if rows.size == 0:
            raise ValueError(f"{path}: no completed operators with rollout status ok")
        theta = torch.from_numpy(np.asarray(reader.unit_parameters(rows), dtype=np.float32))
        u0 = torch.from_numpy(np.asarray(reader.initial_conditions(rows), dtype=np.float32))
        fixed: torch.Tensor | None = None
        if pipeline is not None:
            pipeline.check_columns(probe_inputs(info, reader, int(rows[0])))
            parts = [
                pipeline.fixed_features(fixed_inputs(reader, rows[s : s + CHUNK], info.stride))
                for s in range(0, len(rows), CHUNK)
            ]
            fixed = torch.cat(parts)
    if not info.trajectories_stored:
        log(f"{path} stores no trajectories: replaying {len(rows)} operators")
    position = {int(r): k for k, r in enumerate(rows)}
    keep_target = keep_target or not info.trajectories_stored
    target = torch.empty(len(rows), info.stored_frames, info.channels, *info.grid) if keep_target else None
    rms = torch.empty(len(rows), info.channels, dtype=torch.float64)
    latents: torch.Tensor | None = None
    for part, trajectories in iter_trajectories(path, rows, manager):
        where = torch.as_tensor([position[int(r)] for r in part])
        mean = torch.from_numpy(trajectories).mean(dim=1)
        if target is not None:
            target[where] = mean
        else:
            rms[where] = sample_rms(mean)
        if pipeline is not None and alignment is not None and fixed is not None:
            ensemble = as_ensemble(mean.to(device), info.realizations)
            z = target_latents(pipeline, alignment, ensemble, fixed[where].to(device), u0[where].to(device))
            if latents is None:
                latents = torch.empty(len(rows), z.shape[1])
            latents[where] = z.cpu()
    return NOAData(
        info=info,
        rows=rows,
        theta=theta,
        u0=u0,
        target=target,
        scale=trajectory_scale(target) if target is not None else floored_scale(rms),
        fixed=fixed,
        target_latents=latents,
    )


def trajectory_scale(target: torch.Tensor) -> torch.Tensor:
    """Per-sample, per-channel rms of ``target (N, T', C, H, W)`` → ``(N, C)``, floored at
    :data:`SCALE_FLOOR` × the median so a near-zero trajectory cannot blow up the scaled MSE."""
    return floored_scale(sample_rms(target))


def sample_rms(target: torch.Tensor) -> torch.Tensor:
    """Per-sample, per-channel rms ``(N, C)`` float64 of ``target (N, T', C, H, W)``."""
    return target.double().pow(2).mean(dim=(1, 3, 4)).sqrt()


def floored_scale(rms: torch.Tensor) -> torch.Tensor:
    """``rms (N, C)`` floored at :data:`SCALE_FLOOR` × its median over positive entries, as float32."""
    positive = rms[rms > 0]
    floor = float(positive.median()) * SCALE_FLOOR if positive.numel() else 1.0
    return rms.clamp(min=max(floor, 1e-12)).float()


def check_compatible(info: DatasetInfo, expected: Any) -> None:
    """Refuse a dataset whose θ columns, channels or grid differ from those an agent was trained on.

    :param expected: a mapping with ``parameter_names``, ``channels`` and ``grid``.
    """
    problems = []
    if list(info.parameter_names) != list(expected["parameter_names"]):
        problems.append(
            f"θ columns {list(info.parameter_names)} instead of {list(expected['parameter_names'])}"
        )
    if info.channels != int(expected["channels"]):
        problems.append(f"{info.channels} channels instead of {expected['channels']}")
    if tuple(info.grid) != tuple(expected["grid"]):
        problems.append(f"a {info.grid[0]}×{info.grid[1]} grid instead of {tuple(expected['grid'])}")
    if problems:
        raise ValueError(f"{info.path} does not fit the agent: " + "; ".join(problems))
