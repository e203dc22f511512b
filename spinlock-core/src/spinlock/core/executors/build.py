"""Building an executor from a config reference (``executor: {kind: dask, params: {...}}``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spinlock.core.executors.base import Executor, ExecutorError
from spinlock.core.registry import ComponentKind

if TYPE_CHECKING:
    from spinlock.core.plugins import PluginManager


_EXECUTOR_MEMBERS = ("parallelism", "run", "__enter__", "__exit__")


def build_executor(manager: PluginManager, kind: str, params: Any = None) -> Executor:
    """The registered executor ``kind`` built from ``params`` (an instance of its config class, or ``None``
    for the defaults).

    :raises UnknownComponentError: no executor of that name is registered (with a suggestion).
    :raises ExecutorUnavailable: its optional dependency is missing (the message names the extra).
    """
    spec = manager.get(ComponentKind.EXECUTOR, kind)
    executor = spec.build(params)
    # Checked on the class: the instance's ``parallelism`` may need a started cluster.
    if not all(hasattr(type(executor), name) for name in _EXECUTOR_MEMBERS):
        raise ExecutorError(f"executor {kind!r} ({spec.factory}) does not implement the Executor protocol")
    return executor
