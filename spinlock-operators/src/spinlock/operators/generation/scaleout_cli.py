"""The scale-out options of ``spinlock generate``: ``--executor``/``--scheduler``/``--workers``/``--shards``
(shard tasks on an executor, then a merge) and ``--shard i/N`` (one shard in this process, for job arrays).

Import-light: the executors, torch and the pipeline are imported inside the functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from spinlock.core.cli.errors import fail

if TYPE_CHECKING:
    from spinlock.core.config import RunConfig
    from spinlock.core.plugins import PluginManager
    from spinlock.operators.generation.pipeline import ComputePlan, GenerationSummary
    from spinlock.operators.generation.plan import Shard


@attrs.frozen
class ExecutorChoice:
    """The executor a sharded run uses: its registered name, its config, and the shard count (``None``:
    one per parallel slot of the executor)."""

    kind: str
    params: Any
    shards: int | None


def parse_shard(text: str | None) -> Shard | None:
    """``--shard I/N`` as a :class:`Shard`; a clear error (exit 2) for ``3/2``, ``a/b``, …"""
    if text is None:
        return None
    from spinlock.operators.generation.plan import PlanError, Shard

    try:
        return Shard.parse(text)
    except PlanError as exc:
        fail(f"--shard: {exc}")


def choose_executor(
    manager: PluginManager,
    config: RunConfig,
    *,
    executor: str | None,
    scheduler: str | None,
    workers: int | None,
    shards: int | None,
    shard: Shard | None,
) -> ExecutorChoice | None:
    """The executor of a sharded run, or ``None`` to generate in this process without shards.

    The name comes from ``--executor``, else the config's ``executor:`` section, else ``local``; its params
    from that section when it names the same executor; ``--scheduler``/``--workers`` override them.
    :raises UnknownComponentError: no executor of that name (with a suggestion).
    """
    from spinlock.core.registry import ComponentKind

    if shard is not None:
        given = [
            name
            for name, value in (
                ("--executor", executor),
                ("--scheduler", scheduler),
                ("--workers", workers),
                ("--shards", shards),
            )
            if value is not None
        ]
        if given:
            fail(
                f"--shard generates one shard in this process (for job arrays, then `spinlock merge`); "
                f"it does not combine with {', '.join(given)}"
            )
        return None
    configured = config.executor
    kind = executor or (configured.kind if configured is not None else "local")
    spec = manager.get(ComponentKind.EXECUTOR, kind)
    params = configured.params if configured is not None and configured.kind == kind else None
    params = params if params is not None else spec.config_cls()
    overrides = {k: v for k, v in (("address", scheduler), ("workers", workers)) if v is not None}
    if overrides:
        fields = {field.name for field in attrs.fields(type(params))}
        if not set(overrides) <= fields:
            fail(f"--scheduler/--workers configure the dask executor; executor {kind!r} takes neither")
        params = attrs.evolve(params, **overrides)
    if kind == "local" and shards is None:
        return None
    return ExecutorChoice(kind, params, shards)


def stored_source(output: Path) -> Path | None:
    """The file an interrupted run of ``output`` left: ``output`` itself, or its first shard file."""
    if output.exists():
        return output
    from spinlock.operators.generation.shards import shard_directory

    directory = shard_directory(output)
    found = sorted(directory.glob("shard-*-of-*.h5")) if directory.is_dir() else []
    return found[0] if found else None


def stored_plan(output: Path) -> dict[str, Any] | None:
    """The compute plan recorded by an interrupted run of ``output`` (see :func:`stored_source`)."""
    source = stored_source(output)
    if source is None:
        return None
    from spinlock.core.storage import open_dataset

    with open_dataset(source) as reader:
        return reader.compute_plan


def resolve_threads(threads: int | None, output: Path, resume: bool) -> int:
    """``--threads``, else (on ``--resume``) the stored plan's, else torch's current thread count."""
    if threads is not None:
        return threads
    if resume:
        plan = stored_plan(output)
        if plan is not None and "threads" in plan:
            return int(plan["threads"])
    import torch

    return torch.get_num_threads()


def run_sharded(
    choice: ExecutorChoice,
    manager: PluginManager,
    config: RunConfig,
    config_yaml: str,
    output: Path,
    plan: ComputePlan,
    *,
    resume: bool,
    overwrite: bool,
    keep_shards: bool,
    quiet: bool,
) -> GenerationSummary:
    """Start the executor, run the shards on it, merge them into ``output``."""
    from spinlock.core.cli.progress import TaskBar
    from spinlock.core.executors import build_executor
    from spinlock.operators.generation.shards import existing_shard_count, generate_sharded

    shards = choice.shards
    if shards is None and resume and not overwrite:
        shards = existing_shard_count(output)
    with build_executor(manager, choice.kind, choice.params) as executor:
        return generate_sharded(
            config,
            config_yaml,
            output,
            manager,
            executor,
            shards=shards or executor.parallelism,
            plan=plan,
            resume=resume,
            overwrite=overwrite,
            keep_shards=keep_shards,
            progress=TaskBar(quiet),
        )
