"""Sharded generation: one idempotent task per shard, run by an executor, then merged into one dataset.

A run of N shards writes ``<output>.shards/shard-<i>-of-<N>.h5`` (each the whole run's layout with only shard
``i``'s samples written; see :func:`~spinlock.operators.generation.pipeline.generate`), then
:func:`spinlock.core.storage.merge_shards` streams them into ``output``, bit-identical to a single-process
run with the same config, seed and compute plan. The shard directory is removed after a successful merge.

A shard task resumes its own file, so a task that runs again (its worker died, the run was restarted with
``--resume``) finishes what is missing and a task whose file is complete returns at once.
"""

from __future__ import annotations

import functools
import re
import shutil
import time
from pathlib import Path

import attrs

from spinlock.core.config import RunConfig, loads_config, make_converter
from spinlock.core.executors import Executor, TaskProgress
from spinlock.core.plugins import PluginManager, build_plugin_manager
from spinlock.core.storage import DatasetError, merge_shards, open_dataset
from spinlock.operators.generation.pipeline import ComputePlan, GenerationSummary, generate, plans_agree
from spinlock.operators.generation.plan import Shard


@attrs.frozen
class ShardResult:
    """What one shard task did.

    :param path: the shard file.
    :param shard: which shard.
    :param written: samples this call computed (0 when the file was already complete).
    :param batches: batches this call ran.
    :param seconds: wall time of the call.
    """

    path: str
    shard: Shard
    written: int
    batches: int
    seconds: float


@attrs.frozen
class ShardTask:
    """Generate shard ``shard`` of the run into ``path``; picklable, idempotent, runs on any worker.

    :param config_yaml: the run config as YAML text (what the file stores; parsed again on the worker).
    :param path: the shard file (absolute, on a file system the workers share).
    :param plan: the compute plan, thread count included, so a worker computes what the client would.
    """

    config_yaml: str
    path: str
    shard: Shard
    plan: ComputePlan

    def __call__(self) -> ShardResult:
        began = time.perf_counter()
        if self.is_complete():
            return ShardResult(self.path, self.shard, 0, 0, time.perf_counter() - began)
        manager = _worker_plugin_manager()
        config = loads_config(
            self.config_yaml, RunConfig, make_converter(manager.components), f"{self.path} (run config)"
        )
        summary = generate(
            config, self.config_yaml, self.path, manager, plan=self.plan, resume=True, shard=self.shard
        )
        return ShardResult(
            self.path, self.shard, summary.operators_written, summary.batches_run, time.perf_counter() - began
        )

    def is_complete(self) -> bool:
        """The file exists, belongs to this run, plan and shard, and all of the shard's samples are done."""
        path = Path(self.path)
        if not path.exists():
            return False
        try:
            with open_dataset(path) as reader:
                stored, plan, done = reader.shard, reader.compute_plan, reader.done()
                same_run = reader.config_yaml == self.config_yaml
        except DatasetError:
            return False  # generate() resumes it or explains what is wrong with it
        return (
            same_run
            and plan is not None
            and plans_agree(plan, self.plan)
            and stored is not None
            and (stored["index"], stored["count"]) == (self.shard.index, self.shard.count)
            and int(done.sum()) == stored["samples"]
        )


@functools.cache
def _worker_plugin_manager() -> PluginManager:
    """One plugin manager per worker process (strictness from ``SPINLOCK_STRICT_PLUGINS``)."""
    return build_plugin_manager()


def shard_directory(output: str | Path) -> Path:
    """Where the shard files of ``output`` live while it is generated: ``<output>.shards/``."""
    out = Path(output).absolute()
    return out.with_name(out.name + ".shards")


def shard_path(directory: Path, shard: Shard) -> Path:
    """``shard-0002-of-0008.h5``: names that sort in shard order."""
    return directory / f"shard-{shard.index:04d}-of-{shard.count:04d}.h5"


_SHARD_FILE = re.compile(r"shard-(\d+)-of-(\d+)\.h5")


def existing_shard_count(output: str | Path) -> int | None:
    """How many shards the unfinished run of ``output`` was split into (from its shard files' names);
    ``None`` when there are no shard files (or files of several counts)."""
    directory = shard_directory(output)
    if not directory.is_dir():
        return None
    counts = {int(m.group(2)) for p in directory.iterdir() if (m := _SHARD_FILE.fullmatch(p.name))}
    return counts.pop() if len(counts) == 1 else None


def generate_sharded(
    config: RunConfig,
    config_yaml: str,
    output: str | Path,
    manager: PluginManager,
    executor: Executor,
    *,
    shards: int,
    plan: ComputePlan | None = None,
    resume: bool = False,
    overwrite: bool = False,
    keep_shards: bool = False,
    progress: TaskProgress | None = None,
) -> GenerationSummary:
    """Generate ``output`` as ``shards`` shard tasks on ``executor`` (entered by the caller), then merge.

    :param shards: number of shards (>= 1); shards beyond the number of batches get no work.
    :param resume: finish the shard files an interrupted run left in ``<output>.shards/``.
    :param overwrite: replace ``output`` and start the shards afresh.
    :param keep_shards: keep ``<output>.shards/`` after merging.
    :raises DatasetError: ``output`` or the shard directory exists (without ``resume``/``overwrite``), or a
        shard file cannot be resumed.
    :raises ExecutorError: a shard task failed for good (the message names the shard).
    :raises MergeError: the shard files do not make one dataset.
    """
    began = time.perf_counter()
    plan = plan or ComputePlan()
    out = Path(output)
    if shards < 1:
        raise ValueError(f"the number of shards must be >= 1: {shards}")
    if out.exists() and not (resume or overwrite):
        raise DatasetError(out, "already exists; pass --resume to finish it or --overwrite to replace it")
    if out.exists() and resume:
        # A merged output is complete; an interrupted single-process file is finished in this process.
        return generate(config, config_yaml, out, manager, plan=plan, resume=True)
    directory = shard_directory(out)
    if directory.exists():
        if overwrite:
            shutil.rmtree(directory)
        elif not resume:
            raise DatasetError(
                directory,
                "holds the shards of an unfinished run; pass --resume to finish it or --overwrite to start over",
            )
        elif (existing := existing_shard_count(out)) not in (None, shards):
            raise DatasetError(
                directory, f"holds an unfinished run of {existing} shards; resume it with --shards {existing}"
            )
    directory.mkdir(parents=True, exist_ok=True)
    tasks = [
        ShardTask(config_yaml, str(shard_path(directory, Shard(i, shards))), Shard(i, shards), plan)
        for i in range(shards)
    ]
    results = executor.run(tasks, labels=[f"shard {task.shard}" for task in tasks], progress=progress)
    merge_shards([task.path for task in tasks], out, overwrite=overwrite)
    if not keep_shards:
        shutil.rmtree(directory)
    with open_dataset(out) as reader:
        statuses = reader.status()
    return GenerationSummary(
        out,
        config.n_operators,
        sum(result.batches for result in results),
        sum(result.written for result in results),
        {s: statuses.count(s) for s in sorted(set(statuses))},
        time.perf_counter() - began,
    )
