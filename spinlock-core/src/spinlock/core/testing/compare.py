"""Comparing two dataset files for bit-identical content."""

from __future__ import annotations

from os import PathLike
from typing import Any

import h5py
import numpy as np


def dataset_differences(
    a: str | PathLike[str], b: str | PathLike[str], *, ignore_attrs: tuple[str, ...] = ()
) -> list[str]:
    """Every difference in content between two HDF5 files, as readable lines (empty: identical).

    Compared: the set of groups and datasets; each dataset's dtype, shape, bytes (strings as values), chunk
    shape, compression and fill value; every attribute's value and dtype, on the root, groups and datasets.
    Not compared: object-header timestamps, free space and the order things were written in.

    :param ignore_attrs: attribute names to skip everywhere (e.g. ``("provenance",)``).
    """
    out: list[str] = []
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        _compare_attrs("/", fa, fb, ignore_attrs, out)
        objects_a, objects_b = _objects(fa), _objects(fb)
        for name in sorted(set(objects_a) - set(objects_b)):
            out.append(f"/{name}: only in {a}")
        for name in sorted(set(objects_b) - set(objects_a)):
            out.append(f"/{name}: only in {b}")
        for name in sorted(set(objects_a) & set(objects_b)):
            x, y = objects_a[name], objects_b[name]
            if isinstance(x, h5py.Dataset) != isinstance(y, h5py.Dataset):
                out.append(f"/{name}: a dataset in one file, a group in the other")
                continue
            _compare_attrs(f"/{name}", x, y, ignore_attrs, out)
            if isinstance(x, h5py.Dataset):
                _compare_datasets(f"/{name}", x, y, out)
    return out


def assert_datasets_identical(
    a: str | PathLike[str], b: str | PathLike[str], *, ignore_attrs: tuple[str, ...] = ()
) -> None:
    """Assert that two dataset files hold bit-identical content (see :func:`dataset_differences`).

    :raises AssertionError: listing every difference (the first 40).
    """
    differences = dataset_differences(a, b, ignore_attrs=ignore_attrs)
    if differences:
        shown = differences[:40] + ([f"... {len(differences) - 40} more"] if len(differences) > 40 else [])
        raise AssertionError(f"{a} and {b} differ:\n  " + "\n  ".join(shown))


def _objects(file: h5py.File) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def visit(name: str, obj: Any) -> None:
        found[name] = obj

    file.visititems(visit)
    return found


def _compare_attrs(where: str, x: Any, y: Any, ignore: tuple[str, ...], out: list[str]) -> None:
    keys_x, keys_y = set(x.attrs) - set(ignore), set(y.attrs) - set(ignore)
    for key in sorted(keys_x ^ keys_y):
        out.append(f"{where}@{key}: only in {'the first' if key in keys_x else 'the second'} file")
    for key in sorted(keys_x & keys_y):
        dtype_x, dtype_y = x.attrs.get_id(key).dtype, y.attrs.get_id(key).dtype
        vx, vy = x.attrs[key], y.attrs[key]
        if dtype_x != dtype_y or not _equal(np.asarray(vx), np.asarray(vy)):
            out.append(f"{where}@{key}: {vx!r} ({dtype_x}) != {vy!r} ({dtype_y})")


def _compare_datasets(where: str, x: h5py.Dataset, y: h5py.Dataset, out: list[str]) -> None:
    if x.dtype != y.dtype or x.shape != y.shape:
        out.append(f"{where}: {x.shape} {x.dtype} != {y.shape} {y.dtype}")
        return
    layout_x = (x.chunks, x.compression, x.compression_opts, x.shuffle, _fill(x))
    layout_y = (y.chunks, y.compression, y.compression_opts, y.shuffle, _fill(y))
    if layout_x != layout_y:
        out.append(f"{where}: storage (chunks, compression, opts, shuffle, fill) {layout_x} != {layout_y}")
    step = max(1, (64 * 1024**2) // max(1, x.dtype.itemsize * int(np.prod(x.shape[1:], dtype=np.int64))))
    if x.shape == () or x.shape[0] == 0:
        if not _equal(np.asarray(x[()]), np.asarray(y[()])):
            out.append(f"{where}: values differ")
        return
    for start in range(0, x.shape[0], step):
        vx, vy = x[start : start + step], y[start : start + step]
        if not _equal(vx, vy):
            rows = _differing_rows(vx, vy) + start
            out.append(f"{where}: values differ in {rows.size} rows, first {rows[:8].tolist()}")
            return


def _fill(ds: h5py.Dataset) -> bytes | None:
    if ds.dtype.kind == "O":
        return None
    return np.asarray(ds.fillvalue, dtype=ds.dtype).tobytes()


def _equal(x: np.ndarray, y: np.ndarray) -> bool:
    if x.shape != y.shape:
        return False
    if x.dtype.kind == "O" or y.dtype.kind == "O" or x.dtype.kind in "US" or y.dtype.kind in "US":
        return bool(np.all(x == y))
    if x.dtype != y.dtype:
        return False
    return np.ascontiguousarray(x).tobytes() == np.ascontiguousarray(y).tobytes()


def _differing_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    rows = x.shape[0]
    if x.dtype.kind == "O":
        return np.flatnonzero((x.reshape(rows, -1) != y.reshape(rows, -1)).any(axis=1))
    bx = np.ascontiguousarray(x).reshape(rows, -1).view(np.uint8)
    by = np.ascontiguousarray(y).reshape(rows, -1).view(np.uint8)
    return np.flatnonzero((bx != by).any(axis=1))
