"""Rich progress over training epochs, on stderr (stdout stays machine-readable)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


class EpochBar:
    """A progress bar over epochs whose text shows ``describe(record)`` of the latest epoch record.

    Satisfies :class:`spinlock.core.training.EpochProgress`.
    """

    def __init__(self, quiet: bool, describe: Callable[[Mapping[str, Any]], str]) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._describe = describe
        self._bar = Progress(
            TextColumn("training"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("epochs · {task.fields[losses]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=quiet,
        )
        self._task: Any = None

    def start(self, total_epochs: int, first_epoch: int) -> None:
        self._bar.start()
        self._task = self._bar.add_task("train", total=total_epochs, completed=first_epoch, losses="…")

    def epoch(self, record: Mapping[str, Any]) -> None:
        self._bar.update(self._task, advance=1, losses=self._describe(record))

    def stop(self) -> None:
        self._bar.stop()


class TaskBar:
    """A progress bar over an executor's tasks (``shards 3/8``), on stderr.

    Satisfies :class:`spinlock.core.executors.TaskProgress`.
    """

    def __init__(self, quiet: bool, label: str = "shards") -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(
            TextColumn(label),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=quiet,
        )
        self._task: Any = None

    def start(self, total: int) -> None:
        self._bar.start()
        self._task = self._bar.add_task("tasks", total=total)

    def advance(self, n: int) -> None:
        self._bar.update(self._task, advance=n)

    def stop(self) -> None:
        self._bar.stop()
