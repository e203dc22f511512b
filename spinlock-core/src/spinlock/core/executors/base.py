"""What an executor is: something that runs a list of picklable tasks and hands back their results.

A task is a zero-argument callable that can be pickled by reference (an instance of an importable class,
a :func:`functools.partial` of an importable function), so that it can run in another process or on another
machine. Tasks must be idempotent: an executor may run a task again after a worker died half-way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Protocol, Self, TypeVar

T = TypeVar("T")


class ExecutorError(Exception):
    """An executor could not start, or a task failed on it (the message names the task)."""


class ExecutorUnavailable(ExecutorError):
    """The executor needs a package that is not installed (the message says what to install)."""


class TaskProgress(Protocol):
    """Receives the task counts of an executor run."""

    def start(self, total: int) -> None: ...

    def advance(self, n: int) -> None: ...

    def stop(self) -> None: ...


class NullTaskProgress:
    """Reports nothing."""

    def start(self, total: int) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def stop(self) -> None:
        pass


class Executor(Protocol):
    """Runs tasks; use it as a context manager so that clusters it started are shut down.

    ``parallelism`` is how many tasks can run at once (1 in-process; the worker count on Dask), which callers
    use as the default number of shards.
    """

    @property
    def parallelism(self) -> int: ...

    def run(
        self,
        tasks: Sequence[Callable[[], T]],
        *,
        labels: Sequence[str] | None = None,
        progress: TaskProgress | None = None,
    ) -> list[T]:
        """Run every task and return their results in the order of ``tasks``.

        :param labels: one short name per task (``"shard 2/4"``), used in errors and as task keys.
        :raises ExecutorError: a task failed (after the executor's retries); the message names it.
        """
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


def task_labels(tasks: Sequence[object], labels: Sequence[str] | None) -> list[str]:
    """``labels`` checked against ``tasks``, or ``task 0``, ``task 1``, …"""
    if labels is None:
        return [f"task {i}" for i in range(len(tasks))]
    if len(labels) != len(tasks):
        raise ValueError(f"{len(labels)} labels for {len(tasks)} tasks")
    return list(labels)
