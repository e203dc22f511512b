"""Generate a dataset: sample θ, build operators batch by batch, draw ICs, roll out, write HDF5.

Memory stays flat in the number of operators: only one batch of operators, ICs and trajectories lives at a
time, and every batch is written (and flushed) before the next starts.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch

from spinlock.core.config import RunConfig
from spinlock.core.config.validators import one_of
from spinlock.core.features.finite import nonfinite_samples
from spinlock.core.interrupts import check_stop
from spinlock.core.plugins import PluginManager
from spinlock.core.registry import ComponentKind
from spinlock.core.rollout import RolloutSpec, rollout
from spinlock.core.sampling.draw import ParameterDraw, draw_parameters
from spinlock.core.storage import DatasetError, DatasetReader, DatasetWriter, TrajectorySpec
from spinlock.operators.architectures.batched import BatchedOperator, architecture_name, build_batched
from spinlock.operators.generation.features import (
    InlineFamily,
    batch_inputs,
    compute as compute_features,
    declare,
    inline_families,
    needs_trajectory,
    shape_probe,
)
from spinlock.operators.generation.plan import (
    Batch,
    PlanError,
    Shard,
    batches_to_run,
    make_batches,
    operator_settings,
    shard_batches,
)
from spinlock.operators.generation.progress import NullProgress, Progress
from spinlock.operators.ics.mixture import generate_initial_conditions

PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _at_least_one(_instance: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    if value < 1:
        raise ValueError(f"'{attribute.name}' must be >= 1: {value}")


@attrs.frozen
class ComputePlan:
    """How the numbers are computed. Same config + seed + plan → bit-identical dataset.

    :param batch_size: operators per batched computation (their realizations share the batch dimension).
    :param device: ``cpu``, ``cuda``, ``cuda:1``, …
    :param precision: ``float32`` (default); ``bfloat16``/``float16`` run the operators under autocast
        (states, noise and FFTs stay float32).
    :param threads: torch intra-op threads on a CPU device (default: this process's current count). CPU
        kernels split reductions by thread, so the thread count changes the last bits of the results; it is
        part of the plan for that reason. Ignored on GPU devices.
    """

    batch_size: int = attrs.field(default=16, validator=_at_least_one)
    device: str = "cpu"
    precision: str = attrs.field(default="float32", validator=one_of(*PRECISIONS))
    threads: int = attrs.field(factory=torch.get_num_threads, validator=_at_least_one)

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def plans_agree(stored: dict[str, Any], plan: ComputePlan) -> bool:
    """Whether data computed under the ``stored`` plan (read from a file) and ``plan`` are bit-identical.

    A plan stored before ``threads`` was recorded lacks it: the thread count is unknown then and is not held
    against ``plan``; nor is it on a GPU device, where it plays no part.
    """
    given = plan.to_dict()
    if "threads" not in stored or not _on_cpu(plan):
        given.pop("threads")
        stored = {k: v for k, v in stored.items() if k != "threads"}
    return stored == given


def _on_cpu(plan: ComputePlan) -> bool:
    return torch.device(plan.device).type == "cpu"


@contextlib.contextmanager
def compute_threads(plan: ComputePlan) -> Iterator[None]:
    """Run the block with torch's intra-op thread count set to ``plan.threads`` (CPU devices only), then
    restore the previous count."""
    if not _on_cpu(plan):
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(plan.threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@attrs.frozen
class GenerationSummary:
    path: Path
    n_operators: int
    batches_run: int
    operators_written: int
    status_counts: dict[str, int]
    seconds: float
    #: feature family → complete operators with a NaN or ±inf value in it (states so large they overflow
    #: float32 feature arithmetic; see ``spinlock.core.features.finite``)
    nonfinite_features: dict[str, int] = attrs.field(factory=dict)


def _provenance(manager: PluginManager, config: RunConfig) -> dict[str, str]:
    used = {"spinlock-core"}
    if config.operator is not None:
        used.add(manager.get(ComponentKind.OPERATOR_BLOCK, config.operator.kind).distribution)
    for ref in config.initial_conditions.values():
        used.add(manager.get(ComponentKind.INITIAL_CONDITION, ref.kind).distribution)
    out = {}
    for name in sorted(used | {"spinlock-operators", "torch", "numpy", "h5py"}):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[name] = importlib.metadata.version(name)
    return out


def _architecture(manager: PluginManager, config: RunConfig) -> tuple[str, Any, Callable[[Any], Any]]:
    if config.operator is None:
        raise PlanError("the config has no `operator` section: add e.g. `operator: {kind: cnn}`")
    spec = manager.get(ComponentKind.OPERATOR_BLOCK, config.operator.kind)
    if spec.metadata.get("role") != "architecture":
        raise PlanError(
            f"operator {config.operator.kind!r} is a building block, not an architecture; "
            "use one registered with role 'architecture' (spinlock list-plugins --kind operator_block)"
        )
    factory = spec.load()
    return spec.name, config.operator.params, lambda cfg: factory(cfg).signature


def _parameter_dtypes(draw: ParameterDraw) -> dict[str, Any]:
    return {name: ("str" if v.dtype.kind in "USO" else v.dtype) for name, v in draw.values.items()}


def _open_writer(
    path: Path,
    config: RunConfig,
    config_yaml: str,
    draw: ParameterDraw,
    plan: ComputePlan,
    *,
    resume: bool,
    overwrite: bool,
    provenance: dict[str, str],
    shard: tuple[Shard, int] | None = None,
    declare_features: Callable[[DatasetWriter], None] = lambda writer: None,
) -> DatasetWriter:
    if resume and path.exists():
        writer = DatasetWriter.open_for_resume(path, config_yaml=config_yaml)
        stored = writer.compute_plan
        if stored is not None and not plans_agree(stored, plan):
            writer.close()
            raise DatasetError(
                path,
                f"was generated with compute plan {stored}; resuming with {plan.to_dict()} would not be "
                "bit-identical (pass the same --batch-size/--device/--precision/--threads)",
            )
        mismatch = _shard_mismatch(writer.shard, shard)
        if mismatch is not None:
            writer.close()
            raise DatasetError(path, mismatch)
        return writer
    storage = config.storage
    trajectories = None
    if storage.store_trajectories:
        trajectories = TrajectorySpec(
            realizations=config.rollout.realizations,
            steps=config.rollout.steps,
            stride=storage.trajectory_stride,
            dtype=storage.trajectory_dtype,  # type: ignore[arg-type]
        )
    return DatasetWriter.create(
        path,
        n_operators=config.n_operators,
        parameter_names=list(draw.names),
        parameter_dtypes=_parameter_dtypes(draw),
        ic_shape=(config.grid.channels, config.grid.height, config.grid.width),
        config_yaml=config_yaml,
        provenance=provenance,
        seed=config.seed,
        trajectories=trajectories,
        compression=storage.compression,  # type: ignore[arg-type]
        overwrite=overwrite,
        prepare=lambda draft: _finish_creation(draft, draw, plan, shard, declare_features),
    )


def _shard_mismatch(stored: dict[str, int] | None, wanted: tuple[Shard, int] | None) -> str | None:
    """Why a file cannot be resumed as ``wanted`` (a shard, or the whole run when ``None``)."""
    if wanted is None:
        if stored is None:
            return None
        here = f"{stored['index']}/{stored['count']}"
        return (
            f"is shard {here} of a sharded run; resume it with --shard {here}, or combine the finished shards "
            "with `spinlock merge`"
        )
    if stored is None:
        return f"is a whole-run dataset, not shard {wanted[0]}; resume it without --shard"
    if (stored["index"], stored["count"]) != (wanted[0].index, wanted[0].count):
        return f"is shard {stored['index']}/{stored['count']}, not shard {wanted[0]}"
    return None


def _finish_creation(
    writer: DatasetWriter,
    draw: ParameterDraw,
    plan: ComputePlan,
    shard: tuple[Shard, int] | None,
    declare_features: Callable[[DatasetWriter], None],
) -> None:
    """What a new file holds from the moment it appears at its path (see ``DatasetWriter.create``'s
    ``prepare``): the shard it is, every operator's θ, the compute plan and the declared feature families
    (a kill can then never leave a half-declared family behind)."""
    if shard is not None:
        writer.set_shard(shard[0].index, shard[0].count, shard[1])
    quality = draw.quality.to_dict() if draw.quality is not None else {}
    writer.write_parameters_all(draw.unit, draw.values, quality, draw.space)
    writer.set_compute_plan(plan.to_dict())
    declare_features(writer)


@contextlib.contextmanager
def _autocast(device: torch.device, precision: str) -> Iterator[None]:
    if precision == "float32":
        yield
    else:
        with torch.autocast(device.type, dtype=PRECISIONS[precision]):
            yield


def build_batch_operator(
    config: RunConfig, arch_name: str, batch: Batch, plan: ComputePlan
) -> BatchedOperator:
    """The batched operator of one batch, weights seeded per global operator index."""
    grid = config.grid
    operator = build_batched(
        arch_name,
        [op.arch_config for op in batch.operators],
        batch.indices,
        config.seed,
        plan.device,
        torch.float32,
        grid_shape=(grid.channels, grid.height, grid.width),
    )
    return operator.eval()


def run_batch(
    config: RunConfig,
    manager: PluginManager,
    arch_name: str,
    batch: Batch,
    plan: ComputePlan,
    families: Sequence[InlineFamily] = (),
    draw: ParameterDraw | None = None,
) -> dict[str, Any]:
    """Initial conditions, operators, rollout and inline features of one batch, as arrays for the writer,
    computed under the plan's thread count (:func:`compute_threads`)."""
    with compute_threads(plan):
        return _compute_batch(config, manager, arch_name, batch, plan, families, draw)


def _compute_batch(
    config: RunConfig,
    manager: PluginManager,
    arch_name: str,
    batch: Batch,
    plan: ComputePlan,
    families: Sequence[InlineFamily],
    draw: ParameterDraw | None,
) -> dict[str, Any]:
    device = torch.device(plan.device)
    grid = config.grid
    fields, variants, kinds = generate_initial_conditions(
        config.initial_conditions or None,
        manager.components[ComponentKind.INITIAL_CONDITION],
        batch.indices,
        config.seed,
        channels=grid.channels,
        height=grid.height,
        width=grid.width,
        device=device,
    )
    operator = build_batch_operator(config, arch_name, batch, plan)
    ops = batch.operators
    spec = RolloutSpec(
        steps=config.rollout.steps,
        realizations=config.rollout.realizations,
        policy=[op.policy for op in ops],
        dt=[op.dt for op in ops],
        alpha=[op.alpha for op in ops],
        noise_scale=[op.noise_scale for op in ops],
        noise=ops[0].noise,
        stride=config.storage.trajectory_stride,
        divergence_threshold=config.rollout.divergence_threshold,
    )

    def step_fn(x: torch.Tensor) -> torch.Tensor:
        with _autocast(device, plan.precision):
            return operator(x).to(x.dtype)

    result = rollout(
        step_fn,
        fields,
        spec,
        operator_indices=batch.indices,
        root_seed=config.seed,
        store_trajectory=config.storage.store_trajectories or needs_trajectory(families),
        device=device,
    )
    out: dict[str, Any] = {
        "ic_fields": fields.cpu().numpy(),
        "ic_types": variants,
        "ic_kinds": kinds,
        "status": list(result.status),
        "diverged_step": np.asarray(result.diverged_step, dtype=np.int32),
    }
    if families and draw is not None:
        inputs = batch_inputs(
            draw,
            batch.indices,
            initial_condition=fields,
            trajectory=result.trajectories,
            status=result.status,
            stride=config.storage.trajectory_stride,
        )
        out["features"] = compute_features(families, inputs)
    if result.trajectories is not None and config.storage.store_trajectories:
        out["trajectories"] = result.trajectories.contiguous().cpu().numpy()
    return out


def generate(
    config: RunConfig,
    config_yaml: str,
    output: str | Path,
    manager: PluginManager,
    *,
    plan: ComputePlan | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: Progress | None = None,
    shard: Shard | None = None,
) -> GenerationSummary:
    """Generate (or finish) the dataset at ``output``.

    :param config_yaml: the YAML text of ``config``, stored in the file and compared on resume.
    :param resume: finish an interrupted file made from the same config and compute plan.
    :param shard: write only this shard's batches (a contiguous slice of the run's batch list) into a file
        with the whole run's layout; ``spinlock merge`` combines the shards of a run into the dataset this
        function writes without ``shard``, bit for bit.
    :raises PlanError: the config cannot be built (no operator section, unconsumed θ names, ...).
    :raises DatasetError: the output exists (without ``resume``/``overwrite``) or cannot be resumed.
    """
    plan = plan or ComputePlan()
    progress = progress or NullProgress()
    path = Path(output)
    if path.exists() and not (resume or overwrite):
        raise DatasetError(path, "already exists; pass --resume to finish it or --overwrite to replace it")
    began = time.perf_counter()
    arch_name, arch_config, signature_of = _architecture(manager, config)
    if architecture_name(arch_config) != arch_name:
        raise PlanError(f"operator {arch_name!r} is not built by spinlock-operators' batched builder")
    draw = draw_parameters(config, manager.components)
    settings = operator_settings(config, arch_config, signature_of, draw)
    batches = make_batches(settings, plan.batch_size)
    if shard is not None:
        batches = shard_batches(batches, shard)
    scope = [i for batch in batches for i in batch.indices]
    families = inline_families(config, manager)
    probe = shape_probe(config, draw)
    writer = _open_writer(
        path,
        config,
        config_yaml,
        draw,
        plan,
        resume=resume,
        overwrite=overwrite,
        provenance=_provenance(manager, config),
        shard=None if shard is None else (shard, len(scope)),
        declare_features=lambda new_file: declare(new_file, families, probe),
    )
    written = 0
    todo: list[Batch] = []
    try:
        declare(writer, families, probe)  # a resumed file: checks that the families still match
        done = writer.done()
        todo = batches_to_run(batches, done)
        progress.start(len(scope), int(done[scope].sum()))
        for batch in todo:
            check_stop()  # a deferred Ctrl-C stops here, between two complete batches
            arrays = run_batch(config, manager, arch_name, batch, plan, families, draw)
            writer.write_batch(batch.indices, **arrays)
            newly = sum(1 for i in batch.indices if not done[i])
            written += newly
            progress.advance(newly)
    except BaseException:
        progress.stop()
        with contextlib.suppress(Exception):
            writer.close()  # a second failure while closing (say, the disk is still full) hides nothing
        raise
    progress.stop()
    writer.close()
    from spinlock.core.storage import open_dataset

    with open_dataset(path) as reader:
        statuses = reader.status()
        nonfinite = nonfinite_features(reader)
    counts = {s: statuses.count(s) for s in sorted(set(statuses))}
    return GenerationSummary(
        path, config.n_operators, len(todo), written, counts, time.perf_counter() - began, nonfinite
    )


def nonfinite_features(reader: DatasetReader, block: int = 4096) -> dict[str, int]:
    """Feature family → complete samples with a NaN or ±inf value in it (families with none left out)."""
    done = reader.done()
    out: dict[str, int] = {}
    for family in reader.feature_families():
        count = 0
        for start in range(0, done.size, block):
            rows = np.flatnonzero(done[start : start + block]) + start
            if rows.size:
                count += int(nonfinite_samples(reader.features(family, rows).values).sum())
        if count:
            out[family] = count
    return out


def iter_replay(
    path: str | Path, indices: Sequence[int], manager: PluginManager
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Recompute operators of a dataset exactly as they were generated, one original batch at a time.

    The config, seed and compute plan come from the file; each requested operator is recomputed within its
    original batch (kernels may be batch-sensitive), so its trajectory is bit-identical to the stored one.
    Trajectories are always produced, also for a dataset that did not store them (storage does not change
    what is computed). Only one batch is held in memory; indices come out in batch order.

    :returns: ``(global index, {"ic_fields": (C, H, W), "trajectories": (M, T', C, H, W), "status": str,
        "diverged_step": int})`` per requested index.
    :raises ValueError: an index outside the dataset.
    """
    from spinlock.core.config import loads_config, make_converter
    from spinlock.core.storage import open_dataset

    with open_dataset(path) as reader:
        config_yaml = reader.config_yaml
        stored_plan = reader.compute_plan
        n = reader.n_operators
    bad = [i for i in indices if not 0 <= int(i) < n]
    if bad:
        raise ValueError(f"operator indices {bad[:5]} are outside [0, {n}) of {path}")
    config = loads_config(
        config_yaml, RunConfig, make_converter(manager.components), f"{path} (stored config)"
    )
    config = attrs.evolve(config, storage=attrs.evolve(config.storage, store_trajectories=True))
    plan = ComputePlan(**stored_plan) if stored_plan else ComputePlan()
    arch_name, arch_config, signature_of = _architecture(manager, config)
    draw = draw_parameters(config, manager.components)
    batches = make_batches(operator_settings(config, arch_config, signature_of, draw), plan.batch_size)
    wanted = {int(i) for i in indices}
    for batch in batches:
        positions = [p for p, i in enumerate(batch.indices) if i in wanted]
        if not positions:
            continue
        arrays = run_batch(config, manager, arch_name, batch, plan)
        for p in positions:
            yield (
                batch.indices[p],
                {
                    "ic_fields": arrays["ic_fields"][p],
                    "trajectories": arrays["trajectories"][p],
                    "status": arrays["status"][p],
                    "diverged_step": int(arrays["diverged_step"][p]),
                },
            )


def replay_operators(
    path: str | Path, indices: list[int], manager: PluginManager
) -> dict[int, dict[str, Any]]:
    """:func:`iter_replay` collected into a dict: global index → its arrays (all held in memory)."""
    return dict(iter_replay(path, indices, manager))


def auto_batch_size_for(
    config: RunConfig, manager: PluginManager, device: str, budget_bytes: int | None = None
) -> int:
    """``--batch-size auto``: see :mod:`spinlock.operators.generation.sizing`."""
    from spinlock.operators.generation.sizing import auto_batch_size

    arch_name, arch_config, signature_of = _architecture(manager, config)
    draw = draw_parameters(config, manager.components)
    settings = operator_settings(config, arch_config, signature_of, draw)
    probe = ComputePlan(batch_size=1, device=device)
    return auto_batch_size(
        config,
        settings,
        lambda batch: build_batch_operator(config, arch_name, batch, probe),
        torch.device(device),
        budget_bytes,
    )
