"""How generation reports progress (torch-free, so the CLI can implement it without importing torch)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Receives the operator counts of a generation run."""

    def start(self, total: int, already_done: int) -> None: ...

    def advance(self, n: int) -> None: ...

    def stop(self) -> None: ...


class NullProgress:
    """Reports nothing."""

    def start(self, total: int, already_done: int) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def stop(self) -> None:
        pass
