"""Merge the shard files of one generation run into one dataset, identical to a single-process run.

A shard file (``spinlock generate --shard i/N``) has the full layout of the run's N samples, but only its own
samples are written and marked done. Merging checks that the shards belong to the same run (every root
attribute but ``shard``, the same datasets with the same shapes, dtypes and attributes — so the same config,
seed, compute plan, feature declarations and format version), that together they cover every sample, and
that samples done in more than one shard agree; then it streams each sample's rows from the shard that
holds them into a new file, a block of rows at a time (memory stays bounded by ``block_bytes``).

The new file gets every dataset with the creation properties (chunks, filters, fill value) and attributes
of the shards', so its content equals, byte for byte, the file a single process would have written with the
same config, seed and compute plan. It is written under a temporary name beside ``output`` and renamed into
place only when complete: a failed merge leaves no output and touches no shard.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import time
from collections.abc import Iterator, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import attrs
import h5py
import numpy as np

from spinlock.core.storage import layout
from spinlock.core.storage._files import attr_json, attr_text, check_format_version, open_hdf5
from spinlock.core.storage.errors import DatasetError

#: rows are copied in blocks of about this many bytes per dataset
DEFAULT_BLOCK_BYTES = 64 * 1024**2
#: bytes assumed per element of a variable-length (string) dataset when sizing blocks
_VLEN_ITEM_BYTES = 64


class MergeError(Exception):
    """The shard files cannot be merged into one dataset (the message names the files and the problem)."""


@attrs.frozen
class MergeSummary:
    """What :func:`merge_shards` wrote.

    :param path: the merged dataset.
    :param n_operators: N.
    :param shards: number of shard files merged.
    :param overlapping: samples done in more than one shard (they agreed bit for bit).
    :param seconds: wall time of the merge.
    """

    path: Path
    n_operators: int
    shards: int
    overlapping: int
    seconds: float


def merge_shards(
    paths: Sequence[str | PathLike[str]],
    output: str | PathLike[str],
    *,
    overwrite: bool = False,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> MergeSummary:
    """Merge shard files of one run into ``output``.

    :param paths: the shard files, in any order (one file of N samples each).
    :param output: the dataset to write; refused if it exists unless ``overwrite``.
    :param block_bytes: memory for one block of rows of one dataset.
    :raises MergeError: the shards disagree (config, seed, compute plan, layout, values of a shared sample)
        or leave samples out (the message lists their indices).
    :raises DatasetError: a shard cannot be read, or ``output`` exists.
    """
    began = time.perf_counter()
    shards = [Path(p) for p in paths]
    out = Path(output)
    _check_paths(shards, out, overwrite)
    with contextlib.ExitStack() as stack:
        files = [stack.enter_context(_open_shard(path)) for path in shards]
        first = files[0]
        n = int(first.attrs[layout.ATTR_N_OPERATORS])
        _check_root_attrs(shards, files)
        objects = _check_objects(shards, files)
        done = np.stack([_done(path, file, n) for path, file in zip(shards, files, strict=True)])
        _check_coverage(shards, files, done)
        owner = np.argmax(done, axis=0)
        overlapping = np.flatnonzero(done.sum(axis=0) > 1)
        per_sample = [name for name, ds in objects.items() if _is_per_sample(name, ds, n)]
        _check_overlaps(shards, files, done, overlapping, per_sample, block_bytes)

        temporary = out.with_name(f".{out.name}.merging-{os.getpid()}")
        try:
            with h5py.File(temporary, "w") as target:
                _copy_layout(first, target)
                for name, ds in objects.items():
                    if not isinstance(ds, h5py.Dataset):
                        continue
                    if name in per_sample:
                        _copy_owned_rows(files, target[name], name, owner, block_bytes)
                    else:
                        _copy_shared(shards, files, target[name], name, block_bytes)
            os.replace(temporary, out)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    return MergeSummary(out, n, len(shards), int(overlapping.size), time.perf_counter() - began)


# -- checks -------------------------------------------------------------------------------------------------


def _check_paths(shards: list[Path], out: Path, overwrite: bool) -> None:
    if not shards:
        raise MergeError("no shard files given")
    seen: dict[Path, Path] = {}
    for path in shards:
        key = path.resolve()
        if key in seen:
            raise MergeError(f"{path} is given twice (as {seen[key]} and {path})")
        seen[key] = path
    if out.resolve() in seen:
        raise MergeError(f"the output {out} is one of the shard files; write the merge to a new file")
    if out.exists() and not overwrite:
        raise DatasetError(out, "already exists; pass --overwrite to replace it")


@contextlib.contextmanager
def _open_shard(path: Path) -> Iterator[h5py.File]:
    file = open_hdf5(path, "r")
    try:
        check_format_version(path, file)
        for required in (layout.ATTR_N_OPERATORS, layout.ATTR_CONFIG):
            if required not in file.attrs:
                raise DatasetError(path, f"missing root attribute {required!r}; not a complete shard file")
        yield file
    finally:
        file.close()


def _check_root_attrs(shards: list[Path], files: list[h5py.File]) -> None:
    reference, ref_path = files[0].attrs, shards[0]
    for path, file in zip(shards[1:], files[1:], strict=True):
        names = (set(reference) | set(file.attrs)) - {layout.ATTR_SHARD}
        for name in sorted(names):
            if name not in file.attrs or name not in reference:
                has, lacks = (ref_path, path) if name in reference else (path, ref_path)
                raise MergeError(
                    f"root attribute {name!r} is in {has} but not in {lacks}: not shards of one run"
                )
            a, b = reference[name], file.attrs[name]
            if _same_value(a, b):
                continue
            if name == layout.ATTR_CONFIG:
                diff = _diff(attr_text(a), attr_text(b), str(ref_path), str(path))
                raise MergeError(f"{ref_path} and {path} were made from different configs:\n{diff}")
            if name == layout.ATTR_COMPUTE_PLAN:
                raise MergeError(
                    f"{ref_path} and {path} were made with different compute plans ({attr_text(a)} vs "
                    f"{attr_text(b)}); the merged data would not equal a single run's"
                )
            raise MergeError(
                f"root attribute {name!r} differs: {_show(a)} in {ref_path}, {_show(b)} in {path}"
            )


def _check_objects(shards: list[Path], files: list[h5py.File]) -> dict[str, h5py.Dataset | h5py.Group]:
    """Every group and dataset of the first shard, after checking that every shard has the same ones."""
    reference = _objects(files[0])
    for path, file in zip(shards[1:], files[1:], strict=True):
        objects = _objects(file)
        only_ref, only_other = sorted(set(reference) - set(objects)), sorted(set(objects) - set(reference))
        if only_ref or only_other:
            parts = [f"{', '.join(only_ref)} only in {shards[0]}"] if only_ref else []
            parts += [f"{', '.join(only_other)} only in {path}"] if only_other else []
            raise MergeError(
                f"the shards hold different datasets ({'; '.join(parts)}): not shards of one run"
            )
        for name, obj in reference.items():
            other = objects[name]
            if isinstance(obj, h5py.Dataset) != isinstance(other, h5py.Dataset):
                raise MergeError(f"/{name} is a dataset in one shard and a group in another ({path})")
            if isinstance(obj, h5py.Dataset) and (obj.shape, obj.dtype) != (other.shape, other.dtype):
                raise MergeError(
                    f"/{name} is {obj.shape} {obj.dtype} in {shards[0]} but {other.shape} {other.dtype} in {path}"
                )
            for key in sorted(set(obj.attrs) | set(other.attrs)):
                if (
                    key not in obj.attrs
                    or key not in other.attrs
                    or not _same_value(obj.attrs[key], other.attrs[key])
                ):
                    a, b = obj.attrs.get(key, "(missing)"), other.attrs.get(key, "(missing)")
                    raise MergeError(
                        f"attribute {key!r} of /{name} differs: {_show(a)} in {shards[0]}, {_show(b)} in {path}"
                    )
    return reference


def _objects(file: h5py.File) -> dict[str, h5py.Dataset | h5py.Group]:
    found: dict[str, h5py.Dataset | h5py.Group] = {}

    def visit(name: str, obj: h5py.Dataset | h5py.Group) -> None:
        found[name] = obj

    file.visititems(visit)
    return found


def _done(path: Path, file: h5py.File, n: int) -> np.ndarray:
    name = layout.PROGRESS_DONE.lstrip("/")
    if name not in file:
        raise DatasetError(path, f"missing {layout.PROGRESS_DONE}; not a Spinlock dataset or shard file")
    done = file[name][...]
    if done.shape != (n,):
        raise DatasetError(path, f"{layout.PROGRESS_DONE} has shape {done.shape}, expected ({n},)")
    return done.astype(bool)


def _check_coverage(shards: list[Path], files: list[h5py.File], done: np.ndarray) -> None:
    missing = np.flatnonzero(~done.any(axis=0))
    if missing.size == 0:
        return
    n = done.shape[1]
    lines = [f"{missing.size} of {n} samples are done in no shard: {_ranges(missing)}"]
    seen: list[str] = []
    for path, file, row in zip(shards, files, done, strict=True):
        shard = _shard_attr(file)
        if shard is None:
            continue
        seen.append(f"{shard['index']}/{shard['count']}")
        if int(row.sum()) < int(shard.get("samples", 0)):
            lines.append(
                f"  {path} (shard {shard['index']}/{shard['count']}) has {int(row.sum())} of its "
                f"{shard['samples']} samples done: finish it with `spinlock generate --shard "
                f"{shard['index']}/{shard['count']} -o {path} --resume`"
            )
    counts = {s.split("/")[1] for s in seen}
    if len(counts) == 1:
        count = int(next(iter(counts)))
        absent = [f"{i}/{count}" for i in range(count) if f"{i}/{count}" not in seen]
        if absent:
            lines.append(f"  shards not given: {', '.join(absent)}")
    raise MergeError("\n".join(lines))


def _check_overlaps(
    shards: list[Path],
    files: list[h5py.File],
    done: np.ndarray,
    overlapping: np.ndarray,
    per_sample: list[str],
    block_bytes: int,
) -> None:
    """Samples done in several shards must hold the same bytes in each (then any copy will do)."""
    if overlapping.size == 0:
        return
    holders: dict[tuple[int, ...], list[int]] = {}
    for i in overlapping:
        holders.setdefault(tuple(np.flatnonzero(done[:, i]).tolist()), []).append(int(i))
    for who, indices in holders.items():
        for name in per_sample:
            reference = files[who[0]][name]
            for block in _blocks(np.asarray(indices), _rows_per_block(reference, block_bytes)):
                first = reference[block]
                for s in who[1:]:
                    differ = _rows_differ(first, files[s][name][block])
                    if differ.any():
                        raise MergeError(
                            f"samples {_ranges(block[differ])} are done in both {shards[who[0]]} and "
                            f"{shards[s]} with different /{name}: the shards were not computed the same way"
                        )


# -- copying ------------------------------------------------------------------------------------------------


def _copy_layout(source: h5py.File, target: h5py.File) -> None:
    """Root attributes (but ``shard``), then every group and (empty) dataset with its creation properties."""
    _copy_attrs(source, target, skip=(layout.ATTR_SHARD,))

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Group):
            _copy_attrs(obj, target.create_group(name))
            return
        maxshape = tuple(h5py.h5s.UNLIMITED if m is None else m for m in obj.maxshape)
        space = h5py.h5s.create_simple(obj.shape, maxshape) if obj.shape else h5py.h5s.create(h5py.h5s.SCALAR)
        # The source's dataset creation property list carries chunks, filters, fill value and fill time as is.
        h5py.h5d.create(target.id, name.encode(), obj.id.get_type(), space, dcpl=obj.id.get_create_plist())
        _copy_attrs(obj, target[name])

    source.visititems(visit)


def _copy_attrs(source: h5py.HLObject, target: h5py.HLObject, skip: tuple[str, ...] = ()) -> None:
    for key in source.attrs:
        if key in skip:
            continue
        stored = source.attrs.get_id(key)
        target.attrs.create(key, source.attrs[key], shape=stored.shape, dtype=stored.dtype)


def _copy_owned_rows(
    files: list[h5py.File], target: h5py.Dataset, name: str, owner: np.ndarray, block_bytes: int
) -> None:
    n = target.shape[0]
    step = _rows_per_block(target, block_bytes)
    for start in range(0, n, step):
        stop = min(n, start + step)
        rows = np.empty((stop - start, *target.shape[1:]), dtype=target.dtype)
        block_owner = owner[start:stop]
        for s in np.unique(block_owner):
            for a, b in _runs(np.flatnonzero(block_owner == s)):
                rows[a:b] = files[int(s)][name][start + a : start + b]
        target[start:stop] = rows


def _copy_shared(
    shards: list[Path], files: list[h5py.File], target: h5py.Dataset, name: str, block_bytes: int
) -> None:
    """A dataset every shard holds whole (the parameters): copied from the first, equal in all."""
    source = files[0][name]
    if source.shape == () or source.size == 0:
        values = source[()]
        for path, file in zip(shards[1:], files[1:], strict=True):
            if _rows_differ(np.atleast_1d(values), np.atleast_1d(file[name][()])).any():
                raise MergeError(f"/{name} differs between {shards[0]} and {path}: not shards of one run")
        target[()] = values
        return
    step = _rows_per_block(source, block_bytes)
    for start in range(0, source.shape[0], step):
        rows = source[start : start + step]
        for path, file in zip(shards[1:], files[1:], strict=True):
            differ = _rows_differ(rows, file[name][start : start + step])
            if differ.any():
                raise MergeError(
                    f"/{name} differs between {shards[0]} and {path} (rows "
                    f"{_ranges(start + np.flatnonzero(differ))}): not shards of one run"
                )
        target[start : start + rows.shape[0]] = rows


# -- helpers ------------------------------------------------------------------------------------------------


def _is_per_sample(name: str, obj: h5py.Dataset | h5py.Group, n: int) -> bool:
    """Rows written by the shard that computed the sample: every ``(N, ...)`` dataset but the parameters,
    which every shard writes whole."""
    return (
        isinstance(obj, h5py.Dataset)
        and obj.ndim >= 1
        and obj.shape[0] == n
        and not ("/" + name).startswith(layout.PARAMETERS + "/")
    )


def _rows_per_block(ds: h5py.Dataset, block_bytes: int) -> int:
    item = _VLEN_ITEM_BYTES if ds.dtype.kind == "O" else ds.dtype.itemsize
    row = max(1, int(np.prod(ds.shape[1:], dtype=np.int64)) * item)
    rows = max(1, block_bytes // row)
    chunk = ds.chunks[0] if ds.chunks else 1
    return max(chunk, rows // chunk * chunk)  # whole chunks: no chunk is rewritten by two blocks


def _blocks(indices: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for start in range(0, indices.size, size):
        yield indices[start : start + size]


def _runs(positions: np.ndarray) -> list[tuple[int, int]]:
    """Ascending ``positions`` as ``[a, b)`` runs of consecutive values."""
    if positions.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(positions) != 1) + 1
    return [(int(run[0]), int(run[-1]) + 1) for run in np.split(positions, breaks)]


def _rows_differ(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(rows,)`` bool: which rows of two equally shaped arrays differ in any byte (NaN equals NaN)."""
    rows = a.shape[0]
    if a.dtype.kind == "O" or b.dtype.kind == "O":
        return np.asarray(np.asarray(a.reshape(rows, -1) != b.reshape(rows, -1)).any(axis=1))
    a_bytes = np.ascontiguousarray(a).reshape(rows, -1).view(np.uint8)
    b_bytes = np.ascontiguousarray(b).reshape(rows, -1).view(np.uint8)
    return (a_bytes != b_bytes).any(axis=1)


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.all(a == b))
    return type(a) is type(b) and bool(a == b)


def _shard_attr(file: h5py.File) -> dict[str, Any] | None:
    raw = file.attrs.get(layout.ATTR_SHARD)
    if raw is None:
        return None
    try:
        value = attr_json(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) and {"index", "count"} <= set(value) else None


def _ranges(indices: np.ndarray, limit: int = 12) -> str:
    """``0-7, 12, 14-15`` for sorted indices (the first ``limit`` runs)."""
    runs = _runs(np.sort(np.asarray(indices, dtype=np.int64)))
    text = [str(a) if b == a + 1 else f"{a}-{b - 1}" for a, b in runs[:limit]]
    if len(runs) > limit:
        text.append(f"… ({len(runs) - limit} more ranges)")
    return ", ".join(text)


def _show(value: Any, limit: int = 120) -> str:
    text = repr(attr_text(value) if isinstance(value, bytes | str) else value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _diff(a: str, b: str, a_name: str, b_name: str, limit: int = 20) -> str:
    lines = list(difflib.unified_diff(a.splitlines(), b.splitlines(), a_name, b_name, lineterm="", n=1))
    if len(lines) > limit:
        lines = [*lines[:limit], f"... ({len(lines) - limit} more diff lines)"]
    return "\n".join(lines)
