"""The string rows of samples that are not complete.

Per-sample string datasets (IC types and kinds, rollout status) hold references into HDF5's global heap. A
writer killed while flushing a batch can leave that batch's references on disk without the heap objects they
point to (HDF5 writes raw chunks before its metadata). HDF5 then fails to read those rows, and fails to
overwrite them, because it frees the old string first. So readers read the string rows of complete samples
only, and a resumed writer first clears the rows of the others without following their references.
"""

from __future__ import annotations

import h5py
import numpy as np

from spinlock.core.storage import layout
from spinlock.core.storage._files import index_runs

#: String datasets with one row per sample, written by every batch.
PER_SAMPLE_STRINGS: tuple[str, ...] = (layout.IC_TYPES, layout.IC_KINDS, layout.ROLLOUT_STATUS)


def complete_rows(file: h5py.File) -> np.ndarray | None:
    """``/progress/done`` as a bool mask, or ``None`` when the file has no usable one."""
    done = file.get(layout.PROGRESS_DONE)
    if not isinstance(done, h5py.Dataset) or done.ndim != 1 or done.dtype.kind != "b":
        return None
    return np.asarray(done[...], dtype=bool)


def read_strings(ds: h5py.Dataset, rows: np.ndarray | None, fill: str) -> np.ndarray:
    """A 1-D string dataset as an object array of ``str``, reading only ``rows`` (``fill`` elsewhere).

    :param rows: bool mask of the rows to read, or ``None`` (or a mask of the wrong length) for all rows.
    """
    values = ds.asstr()
    if rows is None or rows.shape != ds.shape:
        return np.asarray(values[...], dtype=object)
    out = np.full(ds.shape[0], fill, dtype=object)
    for start, stop, _ in index_runs(np.flatnonzero(rows)):
        out[start:stop] = values[start:stop]
    return out


def clear_rows(ds: h5py.Dataset, rows: np.ndarray) -> bool:
    """Make ``rows`` of a chunked, unfiltered string dataset empty, rewriting raw chunks.

    The references in those rows are overwritten with nulls without being followed, so a dangling one does
    no harm. Idempotent; a kill part-way leaves some rows cleared and the others as they were.

    :returns: whether the dataset's layout allowed it (chunked, no filters).
    """
    chunks = ds.chunks
    if chunks is None or ds.id.get_create_plist().get_nfilters() != 0:
        return False
    per_chunk = int(chunks[0])
    for first in np.unique(np.flatnonzero(rows) // per_chunk):
        start = int(first) * per_chunk
        if ds.id.get_chunk_info_by_coord((start,)).byte_offset is None:
            continue  # a chunk never written holds no references
        mask, raw = ds.id.read_direct_chunk((start,))
        itemsize = len(raw) // per_chunk
        buffer = bytearray(raw)
        for row in np.flatnonzero(rows[start : start + per_chunk]):
            buffer[int(row) * itemsize : (int(row) + 1) * itemsize] = bytes(itemsize)
        ds.id.write_direct_chunk((start,), bytes(buffer), mask)
    return True


def reset_unfinished(file: h5py.File) -> None:
    """Clear the per-sample string rows of samples not complete; their status reads ``pending`` again."""
    done = complete_rows(file)
    if done is None or done.all():
        return
    pending = ~done
    for path in PER_SAMPLE_STRINGS:
        ds = file.get(path)
        if not isinstance(ds, h5py.Dataset) or ds.shape != done.shape or not clear_rows(ds, pending):
            continue
        if path == layout.ROLLOUT_STATUS:
            for start, stop, _ in index_runs(np.flatnonzero(pending)):
                ds[start:stop] = np.full(stop - start, layout.STATUS_PENDING, dtype=object)
    file.flush()
