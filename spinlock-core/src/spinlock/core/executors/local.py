"""The ``local`` executor: every task in the calling process, one after another."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Self, TypeVar

from spinlock.core.executors.base import ExecutorError, NullTaskProgress, TaskProgress, task_labels
from spinlock.core.executors.configs import LocalExecutorConfig

T = TypeVar("T")


class LocalExecutor:
    """Runs tasks in order in this process; a failing task stops the run (later tasks do not start)."""

    def __init__(self, config: LocalExecutorConfig | None = None) -> None:
        self.config = config or LocalExecutorConfig()

    @property
    def parallelism(self) -> int:
        return 1

    def run(
        self,
        tasks: Sequence[Callable[[], T]],
        *,
        labels: Sequence[str] | None = None,
        progress: TaskProgress | None = None,
    ) -> list[T]:
        names = task_labels(tasks, labels)
        progress = progress or NullTaskProgress()
        results: list[T] = []
        progress.start(len(tasks))
        try:
            for task, name in zip(tasks, names, strict=True):
                try:
                    results.append(task())
                except (KeyboardInterrupt, ExecutorError):
                    raise
                except Exception as exc:
                    raise ExecutorError(f"{name} failed: {type(exc).__name__}: {exc}") from exc
                progress.advance(1)
        finally:
            progress.stop()
        return results

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        pass
