"""Opening HDF5 files with every failure turned into a :class:`DatasetError` that says what is wrong."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np

from spinlock.core.storage import layout
from spinlock.core.storage.errors import DatasetError

FileMode = Literal["r", "r+"]


def open_hdf5(path: Path, mode: FileMode) -> h5py.File:
    """Open ``path`` with h5py, explaining a missing, empty, foreign, corrupt or locked file."""
    if not path.exists():
        raise DatasetError(path, "no such file")
    if path.is_dir():
        raise DatasetError(path, "is a directory, not a dataset file")
    if path.stat().st_size == 0:
        raise DatasetError(path, "is empty (0 bytes); not an HDF5 file")
    try:
        return h5py.File(path, mode)
    except OSError as exc:
        raise DatasetError(path, _explain_open_error(exc)) from exc


def _explain_open_error(exc: OSError) -> str:
    text = str(exc)
    if "unable to lock file" in text:
        return (
            "is open for writing by another process (HDF5 file lock held); wait for it to finish, "
            "or set HDF5_USE_FILE_LOCKING=FALSE only if you know the file is not being written"
        )
    if "file signature not found" in text:
        return "is not an HDF5 file"
    if "truncated file" in text:
        return f"is truncated or corrupt (HDF5: {_hdf5_reason(text)})"
    if "already open for write" in text:
        return f"was left marked open-for-write by a crashed writer (run `h5clear -s` on it): {text}"
    return f"cannot be read as HDF5 (truncated or corrupt?): {_hdf5_reason(text)}"


def _hdf5_reason(text: str) -> str:
    # h5py wraps the library's message as "Unable to ... (reason)"; the reason is the useful part.
    start, end = text.find("("), text.rfind(")")
    return text[start + 1 : end] if 0 <= start < end else text


def check_format_version(path: Path, file: h5py.File) -> int:
    """The file's format version; raises for a foreign file or a version newer than this code supports."""
    if layout.ATTR_FORMAT_VERSION not in file.attrs:
        raise DatasetError(
            path,
            f"not a Spinlock dataset (no {layout.ATTR_FORMAT_VERSION} attribute); made by another tool?",
        )
    raw = file.attrs[layout.ATTR_FORMAT_VERSION]
    try:
        version = int(raw)
    except (TypeError, ValueError):
        raise DatasetError(path, f"{layout.ATTR_FORMAT_VERSION} is not an integer: {raw!r}") from None
    if version > layout.FORMAT_VERSION:
        raise DatasetError(
            path,
            f"format version {version} is newer than this spinlock-core supports "
            f"({layout.FORMAT_VERSION}); upgrade spinlock-core",
        )
    if version < 1:
        raise DatasetError(path, f"invalid format version {version}")
    return version


@contextmanager
def reading(path: Path, what: str) -> Iterator[None]:
    """Turn h5py failures while reading ``what`` into a :class:`DatasetError` naming the object."""
    try:
        yield
    except KeyError as exc:
        raise DatasetError(path, f"missing {what}") from exc
    except OSError as exc:
        raise DatasetError(
            path, f"cannot read {what} (truncated or corrupt?): {_hdf5_reason(str(exc))}"
        ) from exc


def attr_text(value: Any) -> str:
    """An HDF5 string attribute as ``str`` (h5py may hand back ``bytes`` for fixed-length strings)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return attr_text(value.item())
    return str(value)


def attr_json(value: Any) -> Any:
    """Decode a JSON-text attribute."""
    return json.loads(attr_text(value))


def str_dtype() -> np.dtype:
    """Variable-length UTF-8 string dtype used for every string dataset."""
    return h5py.string_dtype("utf-8")


def index_runs(indices: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """Split sample ``indices`` (any order, unique) into ascending contiguous runs.

    :returns: ``(start, stop, positions)`` per run, where ``positions`` are the places in ``indices`` (and so
        in the batch arrays) that fill ``[start, stop)`` in order.
    """
    order = np.argsort(indices, kind="stable")
    ordered = indices[order]
    breaks = np.flatnonzero(np.diff(ordered) != 1) + 1
    runs = []
    for chunk_positions, chunk_values in zip(np.split(order, breaks), np.split(ordered, breaks), strict=True):
        if chunk_values.size:
            runs.append((int(chunk_values[0]), int(chunk_values[-1]) + 1, chunk_positions))
    return runs
