"""Executors: engines that run generation shards (``local`` in-process, ``dask`` on a cluster).

Executors are registered components (kind ``executor``); core registers ``local`` and ``dask`` directly and
plugins add more through ``spinlock_register_executors``. Importing this package imports no dask.
"""

from spinlock.core.executors.base import (
    Executor,
    ExecutorError,
    ExecutorUnavailable,
    NullTaskProgress,
    TaskProgress,
)
from spinlock.core.executors.build import build_executor
from spinlock.core.executors.configs import DaskExecutorConfig, LocalExecutorConfig

__all__ = [
    "DaskExecutorConfig",
    "Executor",
    "ExecutorError",
    "ExecutorUnavailable",
    "LocalExecutorConfig",
    "NullTaskProgress",
    "TaskProgress",
    "build_executor",
]
