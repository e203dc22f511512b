"""``validate_dataset``: check a file against the format-version-1 layout and report every problem found."""

from __future__ import annotations

import json
from os import PathLike
from pathlib import Path
from typing import Any

import attrs
import h5py
import numpy as np

from spinlock.core.storage import layout
from spinlock.core.storage._files import attr_text, check_format_version, open_hdf5
from spinlock.core.storage._strings import complete_rows, read_strings
from spinlock.core.storage.errors import DatasetError

# Rows of IC fields read at a time when checking values, so validation of big files stays within memory.
_BLOCK_BYTES = 64 * 1024 * 1024


@attrs.frozen
class Problem:
    """One thing wrong with a dataset file.

    :param path: the HDF5 object the problem is about (``"/"`` for the file or its root attributes).
    :param message: what is wrong.
    :param fatal: the file cannot be read as a Spinlock dataset at all (unreadable, foreign, newer version).
    """

    path: str
    message: str
    fatal: bool = False

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def validate_dataset(path: str | PathLike[str]) -> list[Problem]:
    """Every problem with the dataset at ``path``; an empty list means it is valid and complete.

    Never raises for a bad file: a file that cannot be opened, is not a Spinlock dataset or is of a newer
    format gives a single ``fatal`` problem. Checks structure (groups, datasets, shapes, dtypes, attributes)
    and the values of complete samples (parameters, initial conditions, statuses); trajectory values are not
    read, so validating a large file stays fast.
    """
    path = Path(path)
    try:
        file = open_hdf5(path, "r")
    except DatasetError as exc:
        return [Problem("/", exc.message, fatal=True)]
    try:
        with file:
            try:
                check_format_version(path, file)
            except DatasetError as exc:
                return [Problem("/", exc.message, fatal=True)]
            checker = _Checker(file)
            checker.run()
            return checker.problems
    except (OSError, KeyError, RuntimeError, ValueError) as exc:
        # h5py raises these for corrupt objects deep in a file that opened fine.
        return [Problem("/", f"cannot be read (truncated or corrupt?): {exc}", fatal=True)]


def layout_error(path: str | PathLike[str], cause: BaseException, limit: int = 3) -> DatasetError:
    """A :class:`DatasetError` for a file whose layout a reader or writer tripped over: it names the first
    ``limit`` problems the validator finds (or ``cause`` when it finds none)."""
    problems = validate_dataset(path)
    found = [str(p) for p in problems if not p.message.endswith("run `spinlock generate --resume`")]
    listed = found[:limit]
    if not listed:
        reason = str(cause) or type(cause).__name__
        return DatasetError(path, f"does not follow the dataset layout ({reason})")
    more = len(found) - len(listed)
    text = "; ".join(listed) + (f"; and {more} more (`spinlock validate` lists them)" if more > 0 else "")
    return DatasetError(path, f"does not follow the dataset layout: {text}")


class _Checker:
    def __init__(self, file: h5py.File) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.n: int | None = None
        self.spatial_dims: int | None = None

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def run(self) -> None:
        self.check_root()
        unit = self.check_parameters()
        ics = self.check_initial_conditions()
        self.check_trajectories(ics)
        status, steps = self.check_rollout()
        self.check_features()
        self.check_tokens()
        done = self.dataset(layout.PROGRESS_DONE, kinds="b", shape=(self.n,))
        if done is None:
            return
        done_mask = done[...]
        self.check_values(done_mask, unit, ics, status, steps)
        n_pending = int((~done_mask).sum())
        if n_pending:
            self.problem(
                layout.PROGRESS_DONE,
                f"{n_pending} of {done_mask.size} samples are not complete; run `spinlock generate --resume`",
            )

    # -- structure ----------------------------------------------------------------------------------------

    def check_root(self) -> None:
        attrs_ = self.file.attrs
        missing = [name for name in layout.ROOT_ATTRS if name not in attrs_]
        for name in missing:
            self.problem("/", f"missing root attribute {name!r}")
        if layout.ATTR_CONFIG not in missing and not isinstance(attrs_[layout.ATTR_CONFIG], str | bytes):
            self.problem("/", "root attribute 'config' must be YAML text")
        if layout.ATTR_PROVENANCE not in missing:
            provenance = self.json(attrs_[layout.ATTR_PROVENANCE], "/", layout.ATTR_PROVENANCE)
            if provenance is not None and not isinstance(provenance, dict):
                self.problem(
                    "/", "root attribute 'provenance' must be a JSON object (distribution -> version)"
                )
        if layout.ATTR_SEED not in missing and _as_int(attrs_[layout.ATTR_SEED]) is None:
            self.problem("/", f"root attribute 'seed' must be an integer: {attrs_[layout.ATTR_SEED]!r}")
        if layout.ATTR_N_OPERATORS not in missing:
            n = _as_int(attrs_[layout.ATTR_N_OPERATORS])
            if n is None or n < 1:
                self.problem("/", f"root attribute 'n_operators' must be an integer >= 1: {n!r}")
            else:
                self.n = n
        if layout.ATTR_N_SPATIAL_DIMS not in missing:
            dims = _as_int(attrs_[layout.ATTR_N_SPATIAL_DIMS])
            if dims is None or not 1 <= dims <= 3:
                self.problem("/", f"root attribute 'n_spatial_dims' must be 1, 2 or 3: {dims!r}")
            else:
                self.spatial_dims = dims

    def check_parameters(self) -> h5py.Dataset | None:
        unit = self.dataset(layout.PARAMETERS_UNIT, kinds="f", ndim=2, shape=(self.n, None))
        if unit is None:
            return None
        if unit.dtype != np.float64:
            self.problem(layout.PARAMETERS_UNIT, f"dtype must be float64, got {unit.dtype}")
        names = self.json_attr(unit, layout.ATTR_NAMES, required=True)
        for optional in (layout.ATTR_QUALITY, layout.ATTR_SPACE):
            self.json_attr(unit, optional, required=False)
        if names is None:
            return unit
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            self.problem(layout.PARAMETERS_UNIT, "attribute 'names' must be a JSON list of strings")
            return unit
        if len(names) != unit.shape[1]:
            self.problem(
                layout.PARAMETERS_UNIT,
                f"attribute 'names' has {len(names)} entries for {unit.shape[1]} columns",
            )
        for name in names:
            ds = self.dataset(layout.parameter_path(name), kinds="biufOS", shape=(self.n,))
            if ds is not None and ds.dtype.kind == "O" and h5py.check_string_dtype(ds.dtype) is None:
                self.problem(ds.name, f"typed parameter has unsupported dtype {ds.dtype}")
        extra = sorted(set(self.file[layout.PARAMETERS]) - {layout.UNIT_NAME, *names})
        for name in extra:
            self.problem(layout.parameter_path(name), "not listed in /parameters/unit attribute 'names'")
        return unit

    def check_initial_conditions(self) -> h5py.Dataset | None:
        ndim = None if self.spatial_dims is None else 2 + self.spatial_dims
        fields = self.dataset(layout.IC_FIELDS, kinds="f", ndim=ndim, shape=(self.n,))
        if fields is not None and fields.dtype != np.float32:
            self.problem(layout.IC_FIELDS, f"dtype must be float32, got {fields.dtype}")
        for path in (layout.IC_TYPES, layout.IC_KINDS):
            self.string_dataset(path)
        return fields

    def check_trajectories(self, ics: h5py.Dataset | None) -> None:
        if layout.TRAJECTORIES not in self.file:
            return
        ndim = None if self.spatial_dims is None else 4 + self.spatial_dims
        traj = self.dataset(layout.TRAJECTORY_FIELDS, kinds="f", ndim=ndim, shape=(self.n,))
        if traj is None:
            return
        if str(traj.dtype) not in layout.TRAJECTORY_DTYPES:
            self.problem(layout.TRAJECTORY_FIELDS, f"dtype must be float32 or float16, got {traj.dtype}")
        if ics is not None and traj.ndim >= 4 and traj.shape[3:] != ics.shape[1:]:
            self.problem(
                layout.TRAJECTORY_FIELDS,
                f"state shape {traj.shape[3:]} differs from the initial conditions' {ics.shape[1:]}",
            )
        stride = self.int_attr(traj, layout.ATTR_STRIDE)
        steps = self.int_attr(traj, layout.ATTR_STEPS)
        if stride is not None and steps is not None and traj.ndim >= 3:
            expected = layout.stored_steps(steps, stride)
            if traj.shape[2] != expected:
                self.problem(
                    layout.TRAJECTORY_FIELDS,
                    f"stores {traj.shape[2]} states per rollout; steps={steps}, stride={stride} "
                    f"needs ceil({steps}/{stride}) = {expected}",
                )

    def check_rollout(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        status_ds = self.string_dataset(layout.ROLLOUT_STATUS)
        status = None
        if status_ds is not None:
            # only complete samples' rows: a killed writer may leave the others unreadable (see _strings)
            status = read_strings(status_ds, complete_rows(self.file), layout.STATUS_PENDING)
            bad = sorted({s for s in status.tolist() if s not in layout.STATUSES})
            if bad:
                self.problem(
                    layout.ROLLOUT_STATUS, f"invalid statuses {bad}; expected one of {layout.STATUSES}"
                )
        steps_ds = self.dataset(layout.ROLLOUT_DIVERGED_STEP, kinds="iu", shape=(self.n,))
        steps = None
        if steps_ds is not None:
            if steps_ds.dtype != np.int32:
                self.problem(layout.ROLLOUT_DIVERGED_STEP, f"dtype must be int32, got {steps_ds.dtype}")
            steps = steps_ds[...]
        return status, steps

    def check_features(self) -> None:
        if layout.FEATURES not in self.file:
            return
        for family in self.file[layout.FEATURES]:
            group_path = f"{layout.FEATURES}/{family}"
            if not isinstance(self.file[group_path], h5py.Group):
                self.problem(group_path, "must be a group holding 'values'")
                continue
            values = self.dataset(layout.feature_values_path(family), kinds="f", shape=(self.n,))
            if values is None:
                continue
            if values.dtype != np.float32:
                self.problem(values.name, f"dtype must be float32, got {values.dtype}")
            if values.ndim not in (2, 3):
                self.problem(values.name, f"must be (N, D) or (N, T, D), got {values.ndim} dimensions")
                continue
            d = values.shape[-1]
            names = self.json_attr(values, layout.ATTR_NAMES, required=True)
            if names is not None and (not isinstance(names, list) or len(names) != d):
                self.problem(values.name, f"attribute 'names' must be a JSON list of {d} column names")
            for name in (layout.ATTR_VERSION, layout.ATTR_PROVIDER):
                if name not in values.attrs:
                    self.problem(values.name, f"missing attribute {name!r}")
            categories = self.json_attr(values, layout.ATTR_CATEGORIES, required=False)
            if categories is not None and (not isinstance(categories, list) or len(categories) != d):
                self.problem(values.name, f"attribute 'categories' must be a JSON list of {d} categories")

    def check_tokens(self) -> None:
        if layout.TOKENS not in self.file:
            return
        tokens = self.file[layout.TOKENS]
        if not isinstance(tokens, h5py.Group):
            self.problem(layout.TOKENS, "must be a group holding one group per tokenizer")
            return
        for name in tokens:
            group_path = layout.tokens_group_path(name)
            if not layout.is_tokenizer_name(name):
                self.problem(
                    group_path,
                    "not a valid tokenizer name (letters, digits, '_', '-'); a '.<name>.partial' group is "
                    "left by an interrupted token write: delete it, or rerun `spinlock tokenize`",
                )
                continue
            if not isinstance(tokens[name], h5py.Group):
                self.problem(group_path, "must be a group holding 'ids'")
                continue
            ids = self.dataset(layout.token_ids_path(name), kinds="iu", ndim=3, shape=(self.n,))
            if ids is not None:
                self.check_token_set(ids)

    def check_token_set(self, ids: h5py.Dataset) -> None:
        path = ids.name
        if ids.dtype != np.dtype(layout.TOKEN_DTYPE):
            self.problem(path, f"dtype must be {layout.TOKEN_DTYPE}, got {ids.dtype}")
        k, n_levels = int(ids.shape[1]), int(ids.shape[2])
        if k < 1 or n_levels < 1:
            self.problem(path, f"must have at least one category and one level, got shape {ids.shape}")
        for name in layout.TOKEN_ATTRS:
            if name not in ids.attrs:
                self.problem(path, f"missing attribute {name!r}")
        for name in layout.TOKEN_TEXT_ATTRS:
            if name in ids.attrs and not isinstance(ids.attrs[name], str | bytes):
                self.problem(path, f"attribute {name!r} must be text, got {ids.attrs[name]!r}")
        present: dict[str, Any] = {}  # the JSON attributes that are there and parse
        for name in layout.TOKEN_JSON_ATTRS:
            if name not in ids.attrs:
                continue
            try:
                present[name] = json.loads(attr_text(ids.attrs[name]))
            except ValueError as exc:
                self.problem(path, f"attribute {name!r} is not valid JSON: {exc}")
        if layout.ATTR_CATEGORIES in present and not _is_names(present[layout.ATTR_CATEGORIES], k):
            self.problem(path, f"attribute 'categories' must be a JSON list of {k} unique category names")
        if layout.ATTR_LEVELS in present and not _is_names(present[layout.ATTR_LEVELS], n_levels):
            self.problem(path, f"attribute 'levels' must be a JSON list of {n_levels} unique level names")
        if layout.ATTR_MODEL in present and not isinstance(present[layout.ATTR_MODEL], dict):
            self.problem(path, "attribute 'model' must be a JSON object (the model's provenance)")
        if layout.ATTR_CODEBOOK_SIZES not in present:
            return
        sizes = present[layout.ATTR_CODEBOOK_SIZES]
        if not layout.is_codebook_sizes(sizes, k, n_levels):
            self.problem(
                path,
                f"attribute 'codebook_sizes' must be a JSON list of {k} rows (categories) of {n_levels} "
                f"ints >= 1 (levels), got {sizes!r}",
            )
            return
        categories = present.get(layout.ATTR_CATEGORIES)
        levels = present.get(layout.ATTR_LEVELS)
        self.check_token_ids(
            ids,
            np.asarray(sizes, dtype=np.int64),
            categories if _is_names(categories, k) else None,
            levels if _is_names(levels, n_levels) else None,
        )

    def check_token_ids(
        self, ids: h5py.Dataset, sizes: np.ndarray, categories: list[str] | None, levels: list[str] | None
    ) -> None:
        """Count ids outside ``[-1, codebook size)``, reading the array in blocks of rows; the example is
        named by category and level when their names are readable, else by position."""
        row_bytes = max(1, int(np.prod(ids.shape[1:], dtype=np.int64)) * ids.dtype.itemsize)
        block = max(1, _BLOCK_BYTES // row_bytes)
        n_bad, example = 0, None
        for start in range(0, ids.shape[0], block):
            chunk = ids[start : start + block]
            if chunk.dtype.kind == "u":
                bad = chunk >= sizes.astype(np.uint64)
            else:
                chunk = chunk.astype(np.int64)
                bad = (chunk < layout.NOT_TOKENIZED) | (chunk >= sizes)
            if bad.any():
                n_bad += int(bad.sum())
                if example is None:
                    row, k, lev = (int(i) for i in np.argwhere(bad)[0])
                    example = (start + row, k, lev, int(chunk[row, k, lev]), int(sizes[k, lev]))
        if example is not None:
            row, k, lev, value, size = example
            category = k if categories is None else repr(categories[k])
            level = lev if levels is None else repr(levels[lev])
            self.problem(
                ids.name,
                f"{n_bad} token ids outside [-1, codebook size), e.g. sample {row}, category {category}, "
                f"level {level}: id {value} with codebook size {size}",
            )

    # -- values of complete samples -----------------------------------------------------------------------

    def check_values(
        self,
        done: np.ndarray,
        unit: h5py.Dataset | None,
        ics: h5py.Dataset | None,
        status: np.ndarray | None,
        steps: np.ndarray | None,
    ) -> None:
        rows = np.flatnonzero(done)
        if rows.size == 0:
            return
        if status is not None and status.shape == done.shape:
            n_pending = int(np.sum(status[done] == layout.STATUS_PENDING))
            if n_pending:
                self.problem(
                    layout.ROLLOUT_STATUS, f"{n_pending} complete samples still have status 'pending'"
                )
            if steps is not None and steps.shape == done.shape:
                diverged = status == layout.STATUS_DIVERGED
                inconsistent = done & (
                    (diverged & (steps < 0)) | (~diverged & (steps != layout.NO_DIVERGENCE))
                )
                if inconsistent.any():
                    self.problem(
                        layout.ROLLOUT_DIVERGED_STEP,
                        f"{int(inconsistent.sum())} samples have a diverged_step inconsistent with their status "
                        f"(>= 0 exactly when 'diverged', else -1), e.g. sample {int(np.argmax(inconsistent))}",
                    )
        if unit is not None and unit.shape[:1] == done.shape:
            values = unit[...][done]
            not_finite = ~np.all(np.isfinite(values), axis=1)
            if not_finite.any():
                self.problem(
                    layout.PARAMETERS_UNIT,
                    f"{int(not_finite.sum())} complete samples have non-finite unit parameters",
                )
            finite = values[~not_finite]
            if finite.size and (finite.min() < 0 or finite.max() >= 1):
                self.problem(
                    layout.PARAMETERS_UNIT,
                    f"unit parameters must lie in [0, 1); found range [{finite.min()}, {finite.max()}]",
                )
        if ics is not None and ics.shape[:1] == done.shape:
            bad = self.count_non_finite(ics, done)
            if bad:
                self.problem(layout.IC_FIELDS, f"{bad} complete samples have non-finite initial conditions")

    def count_non_finite(self, ds: h5py.Dataset, done: np.ndarray) -> int:
        row_bytes = max(1, int(np.prod(ds.shape[1:], dtype=np.int64)) * ds.dtype.itemsize)
        block = max(1, _BLOCK_BYTES // row_bytes)
        bad = 0
        for start in range(0, ds.shape[0], block):
            mask = done[start : start + block]
            if not mask.any():
                continue
            chunk = ds[start : start + block][mask]
            bad += int(np.sum(~np.isfinite(chunk.reshape(chunk.shape[0], -1)).all(axis=1)))
        return bad

    # -- helpers ------------------------------------------------------------------------------------------

    def dataset(
        self,
        path: str,
        *,
        kinds: str,
        ndim: int | None = None,
        shape: tuple[int | None, ...] = (),
    ) -> h5py.Dataset | None:
        """The dataset at ``path`` if it exists with a dtype kind in ``kinds``, ``ndim`` axes and ``shape``
        as a prefix (``None`` entries are not checked); records a problem and returns ``None`` otherwise."""
        if path not in self.file:
            self.problem(path, "missing")
            return None
        ds = self.file[path]
        if not isinstance(ds, h5py.Dataset):
            self.problem(path, "must be a dataset")
            return None
        if ds.dtype.kind not in kinds:
            self.problem(path, f"has unexpected dtype {ds.dtype}")
            return None
        if ndim is not None and ds.ndim != ndim:
            self.problem(path, f"must have {ndim} dimensions, got shape {ds.shape}")
            return None
        for axis, expected in enumerate(shape):
            if expected is not None and (ds.ndim <= axis or ds.shape[axis] != expected):
                self.problem(path, f"shape {ds.shape} does not match N = {expected} on axis {axis}")
                return None
        return ds

    def string_dataset(self, path: str) -> h5py.Dataset | None:
        ds = self.dataset(path, kinds="OS", ndim=1, shape=(self.n,))
        if ds is not None and h5py.check_string_dtype(ds.dtype) is None:
            self.problem(path, f"must hold strings, got {ds.dtype}")
            return None
        return ds

    def json(self, raw: Any, obj_path: str, name: str) -> Any:
        try:
            return json.loads(attr_text(raw))
        except ValueError as exc:
            self.problem(obj_path, f"attribute {name!r} is not valid JSON: {exc}")
            return None

    def json_attr(self, obj: h5py.HLObject, name: str, *, required: bool) -> Any:
        if name not in obj.attrs:
            if required:
                self.problem(obj.name, f"missing attribute {name!r}")
            return None
        return self.json(obj.attrs[name], obj.name, name)

    def int_attr(self, obj: h5py.HLObject, name: str) -> int | None:
        if name not in obj.attrs:
            self.problem(obj.name, f"missing attribute {name!r}")
            return None
        value = _as_int(obj.attrs[name])
        if value is None or value < 1:
            self.problem(obj.name, f"attribute {name!r} must be an integer >= 1: {obj.attrs[name]!r}")
            return None
        return value


def _as_int(value: Any) -> int | None:
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        return None
    return int(value)


def _is_names(value: Any, length: int) -> bool:
    """Whether ``value`` is a list of ``length`` unique non-empty strings."""
    return (
        isinstance(value, list)
        and len(value) == length
        and all(isinstance(item, str) and item for item in value)
        and len(set(value)) == length
    )
