"""A dataset reader that opens its HDF5 file in the process that reads, for DataLoader workers.

HDF5 handles must not cross ``fork`` or pickling: a handle inherited by a worker shares the parent's file
state, and h5py objects cannot be pickled for ``spawn``. :class:`LazyReader` holds only the path until the
first read, remembers which process opened the file, reopens it in any other process (a forked worker),
and pickles as its path alone.
"""

from __future__ import annotations

import contextlib
import os
from os import PathLike
from pathlib import Path
from typing import Any

from spinlock.core.storage.reader import DatasetReader


class LazyReader:
    """A :class:`DatasetReader` for ``path``, opened on first use by the process that uses it."""

    def __init__(self, path: str | PathLike[str]) -> None:
        self.path = Path(path)
        self._reader: DatasetReader | None = None
        self._pid: int | None = None

    @property
    def is_open(self) -> bool:
        """Whether this process holds an open handle."""
        return self._reader is not None and self._pid == os.getpid()

    def get(self) -> DatasetReader:
        """The reader of this process, opening the file if needed."""
        if self._reader is None or self._pid != os.getpid():
            # a handle inherited through fork belongs to the parent: drop it without closing it
            self._reader = DatasetReader(self.path)
            self._pid = os.getpid()
        return self._reader

    def close(self) -> None:
        """Close this process's handle (idempotent)."""
        if self._reader is not None and self._pid == os.getpid():
            self._reader.close()
        self._reader = None
        self._pid = None

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])  # type: ignore[misc]

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown: h5py may already be gone
            self.close()
