"""Configuration classes of core's executors (import-light: attrs only, no dask)."""

from __future__ import annotations

import attrs
from attrs import validators as v


@attrs.frozen
class LocalExecutorConfig:
    """The in-process executor: shard tasks run one after another in the calling process."""


@attrs.frozen
class DaskExecutorConfig:
    """Shard tasks as Dask futures, on an existing scheduler or on a LocalCluster started for the run.

    :param address: scheduler address (``tcp://host:8786``); ``None`` starts a LocalCluster.
    :param workers: worker processes of that LocalCluster (one thread each); ``None``: one per CPU core.
        Ignored with ``address``.
    :param retries: how often a shard task that *raised* is resubmitted. A worker that *died* is handled by
        Dask itself: its tasks are rescheduled on other workers up to the scheduler's
        ``distributed.scheduler.allowed-failures`` times.
    :param allowed_failures: ``distributed.scheduler.allowed-failures`` of the LocalCluster (worker deaths
        a task survives). Set it on the scheduler itself when connecting to ``address``.
    """

    address: str | None = None
    workers: int | None = attrs.field(default=None, validator=v.optional(v.ge(1)))
    retries: int = attrs.field(default=1, validator=v.ge(0))
    allowed_failures: int = attrs.field(default=3, validator=v.ge(0))
