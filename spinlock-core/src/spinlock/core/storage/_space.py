"""Refusing a write the file system cannot take, before HDF5 starts it.

HDF5 is not transactional: a write that fails half-way because the disk is full (``ENOSPC``), a quota is
exhausted (``EDQUOT``) or the file reached the process's size limit (``EFBIG``, ``ulimit -f``) leaves the
file's metadata pointing past its end, and HDF5 can no longer open it. :class:`~spinlock.core.storage.writer.
DatasetWriter` therefore checks for room before each write: twice the bytes it is about to write plus a fixed
headroom for HDF5's metadata and chunk reallocation. A refused write has written nothing, so every sample
completed before it stays readable and a resume with more room finishes the file.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from spinlock.core.storage.errors import DatasetError

#: Room kept free beyond the data of a write: HDF5 metadata (chunk indexes, heaps, object headers) and the
#: reallocation of compressed chunks.
HEADROOM_BYTES = 1024 * 1024

_KEPT = "Nothing of this write was started and what was completed before is kept: make room, then resume"


def file_size_limit() -> int | None:
    """This process's soft ``RLIMIT_FSIZE`` in bytes (``ulimit -f``), or ``None`` when unlimited."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def free_bytes(directory: Path) -> int | None:
    """Bytes an unprivileged process may still write in ``directory``'s file system (``None``: unknown)."""
    try:
        stats = os.statvfs(directory)
    except (OSError, AttributeError):  # no statvfs (Windows) or a file system that cannot say
        return None
    return int(stats.f_bavail) * int(stats.f_frsize)


def check_room(path: Path, nbytes: int) -> None:
    """Raise :class:`DatasetError` when writing ``nbytes`` more to ``path`` could fail for lack of room.

    :param path: the file about to grow (it may not exist yet).
    :param nbytes: the bytes about to be written.
    """
    need = 2 * int(nbytes) + HEADROOM_BYTES
    size = path.stat().st_size if path.is_file() else 0
    limit = file_size_limit()
    if limit is not None and size + need > limit:
        raise DatasetError(
            path,
            f"file too large: writing about {_mib(need)} more to this {_mib(size)} file would pass the "
            f"file-size limit of {_mib(limit)} (ulimit -f). {_KEPT}",
        )
    free = free_bytes(path.parent)
    if free is not None and free < need:
        raise DatasetError(
            path,
            f"no space left on device: the next write needs about {_mib(need)} and only {_mib(free)} "
            f"are free on the file system of {path.parent}. {_KEPT}",
        )


def storage_reason(exc: BaseException) -> str:
    """What an error of the file system or h5py means, with the full-disk cases named plainly."""
    text = str(exc)
    code = getattr(exc, "errno", None)
    if code is None:
        found = re.search(r"errno = (\d+)", text)
        code = int(found.group(1)) if found else None
    if code == errno.ENOSPC or "No space left" in text:
        return "no space left on device"
    if code == errno.EFBIG or "File too large" in text:
        return "file too large (the file-size limit, ulimit -f, was reached)"
    if code == errno.EDQUOT or "quota exceeded" in text.lower():
        return "disk quota exceeded"
    start, end = text.find("("), text.rfind(")")
    return text[start + 1 : end] if 0 <= start < end else text


def _mib(nbytes: int) -> str:
    if nbytes < 1024**2:
        return f"{nbytes / 1024:.0f} KiB"
    return f"{nbytes / 1024**2:.1f} MiB"
