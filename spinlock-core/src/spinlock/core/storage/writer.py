"""The single writer of a Spinlock dataset file: creation, resume, batched crash-safe sample writes.

Crash safety: :meth:`DatasetWriter.write_batch` writes every array of the batch, flushes, and only then sets
``/progress/done`` for those samples and flushes again. A process killed at any point leaves each sample
either complete and marked done, or marked pending (its partial data is rewritten on resume). The file is
created with HDF5's default (oldest compatible) format on purpose: ``libver="latest"`` enables superblock
status flags that make a killed writer's file unopenable until ``h5clear`` is run on it.

One writer handle per file: features, trajectories and parameters all go through the same
:class:`DatasetWriter`, a second writer for the same path in this process is refused, and HDF5's file lock
refuses writers (and readers) in other processes while it is open.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import attrs
import h5py
import numpy as np
from attrs import validators as v

from spinlock.core.storage import layout
from spinlock.core.storage._files import (
    attr_json,
    attr_text,
    check_format_version,
    index_runs,
    open_hdf5,
    str_dtype,
)
from spinlock.core.storage._space import check_room, storage_reason
from spinlock.core.storage._strings import reset_unfinished
from spinlock.core.storage.errors import DatasetError
from spinlock.core.storage.validate import layout_error

Compression = Literal["none", "lzf", "gzip"]
TypedKind = Literal["int64", "float64", "bool", "str"]

# Rows per chunk for the small per-sample arrays (strings, features, flags): about 64 KiB per chunk keeps the
# chunk index small without making a batch rewrite much more than it wrote.
_SMALL_CHUNK_BYTES = 64 * 1024

_open_paths: set[Path] = set()
_open_paths_lock = threading.Lock()


@attrs.frozen
class TrajectorySpec:
    """How rollouts are stored: ``realizations`` (M) × ``ceil(steps / stride)`` (T') states per sample.

    :param realizations: stochastic realizations per operator (M).
    :param steps: rollout steps (T).
    :param stride: keep every ``stride``-th state.
    :param dtype: ``"float32"``, or ``"float16"`` to halve the file (opt-in; lossy).
    """

    realizations: int = attrs.field(validator=[v.instance_of(int), v.ge(1)])
    steps: int = attrs.field(validator=[v.instance_of(int), v.ge(1)])
    stride: int = attrs.field(default=1, validator=[v.instance_of(int), v.ge(1)])
    dtype: Literal["float32", "float16"] = attrs.field(
        default="float32", validator=v.in_(layout.TRAJECTORY_DTYPES)
    )

    @property
    def stored_steps(self) -> int:
        """T' = ceil(T / stride)."""
        return layout.stored_steps(self.steps, self.stride)


@attrs.frozen
class FeatureDeclaration:
    """A declared feature family: ``D`` named columns, optionally per timestep (``T``)."""

    family: str
    names: tuple[str, ...]
    version: str
    provider: str
    per_timestep: int | None = None
    categories: tuple[str, ...] | None = None

    @property
    def value_shape(self) -> tuple[int, ...]:
        """Shape of one sample's values: ``(D,)`` or ``(T, D)``."""
        d = len(self.names)
        return (d,) if self.per_timestep is None else (self.per_timestep, d)


class DatasetWriter:
    """Writes one dataset file; make one with :meth:`create` or :meth:`open_for_resume`.

    Not thread-safe: call it from one thread (HDF5 is not thread-safe either).
    """

    def __init__(self, path: Path, file: h5py.File) -> None:
        self._path = path
        self._file = file
        self._n = int(file.attrs[layout.ATTR_N_OPERATORS])
        unit = file[layout.PARAMETERS_UNIT]
        self._parameter_names: tuple[str, ...] = tuple(attr_json(unit.attrs[layout.ATTR_NAMES]))
        self._parameter_kinds: dict[str, TypedKind] = {
            name: _stored_kind(file[layout.parameter_path(name)]) for name in self._parameter_names
        }
        self._ic_shape: tuple[int, ...] = tuple(file[layout.IC_FIELDS].shape[1:])
        self._trajectories: TrajectorySpec | None = None
        if layout.TRAJECTORY_FIELDS in file:
            ds = file[layout.TRAJECTORY_FIELDS]
            self._trajectories = TrajectorySpec(
                realizations=int(ds.shape[1]),
                steps=int(ds.attrs[layout.ATTR_STEPS]),
                stride=int(ds.attrs[layout.ATTR_STRIDE]),
                dtype="float16" if ds.dtype == "float16" else "float32",
            )
        self._features: dict[str, FeatureDeclaration] = {}
        if layout.FEATURES in file:
            for family in file[layout.FEATURES]:
                self._features[family] = _read_declaration(file, family)
        self._closed = False

    # -- construction -------------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | PathLike[str],
        *,
        n_operators: int,
        parameter_names: Sequence[str],
        parameter_dtypes: Mapping[str, Any],
        ic_shape: Sequence[int],
        config_yaml: str,
        provenance: Mapping[str, str],
        seed: int,
        trajectories: TrajectorySpec | None = None,
        compression: Compression = "none",
        overwrite: bool = False,
        prepare: Callable[[DatasetWriter], None] | None = None,
    ) -> DatasetWriter:
        """Create a new dataset file with every dataset allocated and every sample pending.

        The file is built under a temporary name next to ``path`` (``.NAME.creating``) and moved into place
        only once complete, with whatever ``prepare`` wrote: a file at ``path`` is never half-made.

        :param n_operators: N.
        :param parameter_names: the unit-cube columns, in order (P of them); also the typed parameter names.
        :param parameter_dtypes: name → numpy dtype (integer → int64, float → float64, bool) or ``"str"``.
        :param ic_shape: ``(channels, height, width)`` of one initial condition (1–3 spatial axes).
        :param config_yaml: the config the dataset is made from, as YAML text (resume compares it).
        :param provenance: distribution → version of everything that took part.
        :param seed: root seed.
        :param trajectories: store rollouts as described, or ``None`` to store none.
        :param compression: for the big float arrays only (IC fields, trajectories): ``"none"`` (default,
            fastest), ``"lzf"`` (with byte shuffle; ~1.2× smaller, ~200 MB/s) or ``"gzip"`` (level 4 with
            shuffle; barely smaller than lzf on float32 and ~40 MB/s — avoid for trajectories).
        :param overwrite: replace an existing file instead of refusing.
        :param prepare: called with a writer of the file before it is moved into place, to write what must
            exist as soon as the file does (say, every sample's parameters and the compute plan).
        """
        path = Path(path)
        names = _check_parameter_names(parameter_names, parameter_dtypes)
        kinds = {name: _normalize_kind(name, parameter_dtypes[name]) for name in names}
        ic_shape = tuple(int(s) for s in ic_shape)
        if not 2 <= len(ic_shape) <= 4 or min(ic_shape) < 1:
            raise ValueError(f"ic_shape must be (channels, *spatial) with 1-3 spatial axes >= 1: {ic_shape}")
        if int(n_operators) < 1:
            raise ValueError(f"n_operators must be >= 1: {n_operators}")
        if compression not in layout.COMPRESSIONS:
            raise ValueError(f"compression must be one of {layout.COMPRESSIONS}: {compression!r}")
        if path.exists() and not overwrite:
            raise DatasetError(path, "already exists; pass overwrite=True to replace it, or resume it")
        n = int(n_operators)

        with _open_paths_lock:
            if path.resolve() in _open_paths:
                raise DatasetError(path, "is already open by a DatasetWriter in this process")
        if path.exists():
            _refuse_if_locked(path)
        # The skeleton is built under a temporary name and moved into place whole: a writer killed while
        # creating leaves no half-made file at ``path`` (HDF5 cannot open one), only a temporary file that
        # the next create replaces.
        staging = _creating_path(path)
        check_room(path, 0)
        try:
            file = h5py.File(staging, "w")
        except OSError as exc:
            raise DatasetError(path, f"cannot be created: {storage_reason(exc)}") from exc
        try:
            _write_skeleton(
                file,
                n=n,
                names=names,
                kinds=kinds,
                ic_shape=ic_shape,
                config_yaml=config_yaml,
                provenance=provenance,
                seed=int(seed),
                trajectories=trajectories,
                big=_compression_options(compression),
            )
            if prepare is not None:
                draft = cls(path, file)  # named after the final path, for its messages
                prepare(draft)
                draft._closed = True
            file.close()
        except BaseException as exc:
            with contextlib.suppress(Exception):
                file.close()
            staging.unlink(missing_ok=True)
            if isinstance(exc, OSError | RuntimeError):
                raise DatasetError(path, f"cannot be created: {storage_reason(exc)}") from exc
            raise
        try:
            staging.replace(path)
        except OSError as exc:
            staging.unlink(missing_ok=True)
            raise DatasetError(path, f"cannot be created: {storage_reason(exc)}") from exc
        file = open_hdf5(path, "r+")
        try:
            return cls._claim(path, file)
        except BaseException:
            file.close()
            raise

    @classmethod
    def open_for_resume(cls, path: str | PathLike[str], *, config_yaml: str) -> DatasetWriter:
        """Reopen an interrupted dataset to finish its pending samples.

        String rows of samples that are not complete are cleared first: a writer killed mid-flush may have
        left them pointing at string-heap objects that never reached the disk. Refuses (:class:`DatasetError`) a missing, foreign, newer-version or locked file, and one made from a
        different config than ``config_yaml``.
        """
        path = Path(path)
        with _open_paths_lock:
            if path.resolve() in _open_paths:
                raise DatasetError(path, "is already open by a DatasetWriter in this process")
        file = open_hdf5(path, "r+")
        try:
            check_format_version(path, file)
            for required in (
                layout.PARAMETERS_UNIT,
                layout.IC_FIELDS,
                layout.ROLLOUT_STATUS,
                layout.PROGRESS_DONE,
            ):
                if required not in file:
                    raise DatasetError(path, f"missing {required}; cannot resume (run `spinlock validate`)")
            stored = attr_text(file.attrs.get(layout.ATTR_CONFIG, ""))
            if stored != config_yaml:
                raise DatasetError(
                    path,
                    "was made from a different config; refusing to resume.\n" + _diff(stored, config_yaml),
                )
            check_room(path, 0)
            try:
                reset_unfinished(file)  # rows a killed writer left half-written (see _strings)
            except (OSError, RuntimeError) as exc:
                raise DatasetError(path, f"cannot be resumed: {storage_reason(exc)}") from exc
            return cls._claim(path, file)
        except BaseException:
            file.close()
            raise

    @classmethod
    def open_for_extraction(cls, path: str | PathLike[str]) -> DatasetWriter:
        """Reopen a dataset to add or replace feature families computed from its stored data."""
        path = Path(path)
        with _open_paths_lock:
            if path.resolve() in _open_paths:
                raise DatasetError(path, "is already open by a DatasetWriter in this process")
        file = open_hdf5(path, "r+")
        try:
            check_format_version(path, file)
        except BaseException:
            file.close()
            raise
        return cls._claim(path, file)

    @classmethod
    def _claim(cls, path: Path, file: h5py.File) -> DatasetWriter:
        with _open_paths_lock:
            _open_paths.add(path.resolve())
        try:
            return cls(path, file)
        except BaseException as exc:
            with _open_paths_lock:
                _open_paths.discard(path.resolve())
            if isinstance(exc, KeyError | IndexError | TypeError | ValueError | OSError):
                file.close()  # so that the validator can read it
                raise layout_error(path, exc) from exc
            raise

    # -- description --------------------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The dataset file."""
        return self._path

    @property
    def file(self) -> h5py.File:
        """The open HDF5 handle, for reading stored data while this writer holds the file."""
        self._check_open()
        return self._file

    @property
    def n_operators(self) -> int:
        """N."""
        return self._n

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Unit-cube column names, in order."""
        return self._parameter_names

    @property
    def ic_shape(self) -> tuple[int, ...]:
        """``(channels, height, width)`` of one initial condition."""
        return self._ic_shape

    @property
    def trajectory_spec(self) -> TrajectorySpec | None:
        """How trajectories are stored, or ``None`` when they are not."""
        return self._trajectories

    @property
    def feature_families(self) -> dict[str, FeatureDeclaration]:
        """Declared feature families by name."""
        return dict(self._features)

    def done(self) -> np.ndarray:
        """``(N,)`` bool: which samples are complete."""
        return self._file[layout.PROGRESS_DONE][...]

    @property
    def compute_plan(self) -> dict[str, Any] | None:
        """The stored compute plan (batch size, device, precision, ...), or ``None`` before one is set."""
        raw = self._file.attrs.get(layout.ATTR_COMPUTE_PLAN)
        return None if raw is None else dict(attr_json(raw))

    def set_compute_plan(self, plan: Mapping[str, Any]) -> None:
        """Record how the data is computed; for a bit-identical resume, pass the same plan again."""
        self._check_open()
        with self._storage_errors("the compute plan", 0):
            self._file.attrs[layout.ATTR_COMPUTE_PLAN] = json.dumps(dict(plan), sort_keys=True)
            self._file.flush()

    @property
    def shard(self) -> dict[str, int] | None:
        """``{"index": i, "count": N, "samples": k}`` on a shard file, ``None`` on a whole-run dataset."""
        raw = self._file.attrs.get(layout.ATTR_SHARD)
        return None if raw is None else {str(k): int(v) for k, v in attr_json(raw).items()}

    def set_shard(self, index: int, count: int, samples: int) -> None:
        """Mark the file as shard ``index`` of ``count`` of a run, holding ``samples`` of its samples
        (``spinlock merge`` combines the shards into one dataset and drops the mark)."""
        self._check_open()
        if not 0 <= index < count or samples < 0:
            raise ValueError(f"invalid shard {index}/{count} with {samples} samples")
        record = {"index": int(index), "count": int(count), "samples": int(samples)}
        self._file.attrs[layout.ATTR_SHARD] = json.dumps(record, sort_keys=True)
        self._file.flush()

    def pending_indices(self) -> np.ndarray:
        """``(K,)`` int64: indices of samples not yet complete, ascending."""
        return np.flatnonzero(~self.done()).astype(np.int64)

    # -- writing ------------------------------------------------------------------------------------------

    def declare_features(
        self,
        family: str,
        names: Sequence[str],
        version: str,
        provider: str,
        per_timestep_T: int | None = None,
        categories: Sequence[str] | None = None,
    ) -> FeatureDeclaration:
        """Allocate ``/features/<family>/values`` with shape ``(N, D)`` or ``(N, T, D)`` (NaN until written).

        Declaring a family that already exists with the same description does nothing (resume); a different
        description, or a new family once samples are complete, is refused.
        """
        self._check_open()
        declaration = _make_declaration(family, names, version, provider, per_timestep_T, categories)
        existing = self._features.get(family)
        if existing is not None:
            if existing != declaration:
                raise DatasetError(
                    self._path,
                    f"feature family {family!r} is already declared differently "
                    f"(stored {existing}, asked {declaration})",
                )
            return existing
        n_done = int(self.done().sum())
        if n_done:
            raise DatasetError(
                self._path,
                f"cannot declare feature family {family!r}: {n_done} samples are already complete without it "
                "(add it offline with `spinlock extract`)",
            )
        return self._allocate_features(family, declaration)

    def replace_features(
        self,
        family: str,
        names: Sequence[str],
        version: str,
        provider: str,
        per_timestep_T: int | None = None,
        categories: Sequence[str] | None = None,
    ) -> FeatureDeclaration:
        """Allocate ``family`` afresh on a dataset whose samples may be complete (offline extraction).

        An existing group of that name is deleted first; values read NaN until :meth:`write_features`.
        """
        self._check_open()
        declaration = _make_declaration(family, names, version, provider, per_timestep_T, categories)
        features = self._file.get(layout.FEATURES)
        if features is not None and family in features:
            del features[family]
        self._features.pop(family, None)
        return self._allocate_features(family, declaration)

    def write_features(self, family: str, indices: Sequence[int] | np.ndarray, values: np.ndarray) -> None:
        """Write rows ``indices`` of a declared family: ``(batch, D)`` or ``(batch, T, D)`` float32."""
        self._check_open()
        if family not in self._features:
            raise ValueError(f"feature family {family!r} is not declared in {self._path}")
        idx = self._check_indices(indices)
        rows = _as_batch(
            values, np.float32, (idx.size, *self._features[family].value_shape), f"features[{family}]"
        )
        target = self._file[layout.feature_values_path(family)]
        with self._storage_errors(f"features {family!r}", rows.nbytes):
            for start, stop, pos in index_runs(idx):
                target[start:stop] = _take(rows, pos)
            self._file.flush()

    def _allocate_features(self, family: str, declaration: FeatureDeclaration) -> FeatureDeclaration:
        with self._storage_errors(f"feature family {family!r}", 0):
            return self._allocate_features_unchecked(family, declaration)

    def _allocate_features_unchecked(
        self, family: str, declaration: FeatureDeclaration
    ) -> FeatureDeclaration:
        group = self._file.require_group(layout.FEATURES).create_group(family)
        shape = (self._n, *declaration.value_shape)
        values = group.create_dataset(
            layout.FEATURE_VALUES,
            shape=shape,
            dtype=np.float32,
            chunks=_row_chunks(shape, 4),
            fillvalue=np.float32(np.nan),
        )
        values.attrs[layout.ATTR_NAMES] = json.dumps(list(declaration.names))
        values.attrs[layout.ATTR_VERSION] = declaration.version
        values.attrs[layout.ATTR_PROVIDER] = declaration.provider
        if declaration.categories is not None:
            values.attrs[layout.ATTR_CATEGORIES] = json.dumps(list(declaration.categories))
        self._file.flush()
        self._features[family] = declaration
        return declaration

    def write_tokens(
        self,
        name: str,
        ids: np.ndarray,
        *,
        indices: Sequence[int] | np.ndarray | None = None,
        categories: Sequence[str],
        levels: Sequence[str],
        codebook_sizes: Sequence[int] | Sequence[Sequence[int]],
        model: Mapping[str, Any],
        model_config: str,
        version: str,
        provider: str,
    ) -> None:
        """Store (or replace) the token set ``/tokens/<name>``: ``(N, K, L)`` int32 ids and their model.

        The set is written whole: rows not in ``indices`` read ``-1`` (not tokenized). An existing set of that
        name is replaced only once the new one is complete on disk: the new group is written under a
        temporary name (never a valid tokenizer name), flushed, and then the old group is deleted and the new
        one moved into place. Every argument is checked before anything is written, so a refused call leaves
        the file as it was.

        :param name: tokenizer name: letters, digits, ``_`` and ``-``.
        :param ids: ``(N, K, L)`` (``indices=None``) or ``(B, K, L)`` integer token ids; ``-1`` for none,
            else ``0 <= id < codebook_sizes[k][l]``.
        :param indices: ``(B,)`` unique sample indices the rows of ``ids`` belong to, any order; ``None``
            for all N samples in order.
        :param categories: the K category names, in the order of axis 1.
        :param levels: the L level names, in the order of axis 2 (coarse first, e.g.
            ``["coarse", "medium", "fine"]``).
        :param codebook_sizes: codes per level, either L ints shared by every category or a K×L nested
            list; stored as K×L.
        :param model: provenance of the model that made the tokens (path, sha256, created, ...),
            JSON-serialisable.
        :param model_config: the model's configuration as YAML text.
        :param version: version of the tokens (the tokenizer's format or model version).
        :param provider: distribution and version that wrote them, e.g. ``"spinlock-vqvae 0.1.0"``.
        :raises ValueError: for a bad name, shape, dtype, id range or description.
        :raises DatasetError: when the writer is closed.
        """
        self._check_open()
        if not layout.is_tokenizer_name(name):
            raise ValueError(
                f"invalid tokenizer name {name!r}: use letters, digits, '_' and '-' only (non-empty)"
            )
        what = f"tokens {name!r}"
        cats = _token_names(categories, f"{what}: categories")
        levs = _token_names(levels, f"{what}: levels")
        sizes = _codebook_sizes(codebook_sizes, len(cats), len(levs), what)
        arr = np.asarray(ids)
        if arr.ndim != 3:
            raise ValueError(
                f"{what}: ids must be a 3-D (samples, categories, levels) array, got shape {arr.shape}"
            )
        if arr.dtype.kind not in "iu":
            raise ValueError(f"{what}: ids must have an integer dtype, got {arr.dtype}")
        if arr.shape[1:] != (len(cats), len(levs)):
            raise ValueError(
                f"{what}: ids have {arr.shape[1]} categories x {arr.shape[2]} levels, but "
                f"{len(cats)} categories {list(cats)} and {len(levs)} levels {list(levs)} are named"
            )
        if indices is None:
            idx = None
            if arr.shape[0] != self._n:
                raise ValueError(
                    f"{what}: ids have {arr.shape[0]} rows but the dataset has N = {self._n} samples; "
                    "pass indices= to write a subset"
                )
        else:
            idx = self._check_indices(indices)
            if arr.shape[0] != idx.size:
                raise ValueError(f"{what}: ids have {arr.shape[0]} rows for {idx.size} indices")
        _check_token_range(arr, sizes, cats, levs, what)
        if not isinstance(model, Mapping):
            raise ValueError(f"{what}: model must be a mapping (provenance dict), got {type(model).__name__}")
        try:
            model_json = json.dumps(dict(model), sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{what}: model must be JSON-serialisable: {exc}") from exc
        for label, text in (("model_config", model_config), ("version", version), ("provider", provider)):
            if not isinstance(text, str):
                raise ValueError(f"{what}: {label} must be a str, got {type(text).__name__}")
        rows = arr.astype(np.dtype(layout.TOKEN_DTYPE))

        tokens = self._file.require_group(layout.TOKENS)
        staging = layout.token_staging_name(name)
        if staging in tokens:  # left by a writer killed mid-write
            del tokens[staging]
        try:
            group = tokens.create_group(staging)
            shape = (self._n, len(cats), len(levs))
            target = group.create_dataset(
                layout.TOKEN_IDS,
                shape=shape,
                dtype=np.dtype(layout.TOKEN_DTYPE),
                chunks=_row_chunks(shape, 4),
                fillvalue=np.int32(layout.NOT_TOKENIZED),
            )
            if idx is None:
                target[...] = rows
            else:
                for start, stop, pos in index_runs(idx):
                    target[start:stop] = _take(rows, pos)
            target.attrs[layout.ATTR_CATEGORIES] = json.dumps(list(cats))
            target.attrs[layout.ATTR_LEVELS] = json.dumps(list(levs))
            target.attrs[layout.ATTR_CODEBOOK_SIZES] = json.dumps([list(row) for row in sizes])
            target.attrs[layout.ATTR_MODEL] = model_json
            target.attrs[layout.ATTR_MODEL_CONFIG] = model_config
            target.attrs[layout.ATTR_VERSION] = version
            target.attrs[layout.ATTR_PROVIDER] = provider
            self._file.flush()
        except BaseException:
            if staging in tokens:
                del tokens[staging]
            raise
        if name in tokens:
            del tokens[name]
        tokens.move(staging, name)
        self._file.flush()

    def write_parameters_all(
        self,
        unit: np.ndarray,
        typed: Mapping[str, Any],
        quality: Mapping[str, Any],
        space: Any,
    ) -> None:
        """Write every sample's parameters (sampled up-front for the whole run) and their description.

        :param unit: ``(N, P)`` unit-cube points, finite, in ``[0, 1)``.
        :param typed: name → ``(N,)`` values of each typed parameter.
        :param quality: sample-quality metrics (discrepancy, correlations, …), JSON-serialisable.
        :param space: description of the parameter space, JSON-serialisable.
        """
        self._check_open()
        all_indices = np.arange(self._n)
        nbytes = 16 * self._n * (len(self._parameter_names) + 1)
        with self._storage_errors("the parameters", nbytes):
            self._write_parameters(all_indices, unit, typed)
            unit_ds = self._file[layout.PARAMETERS_UNIT]
            unit_ds.attrs[layout.ATTR_QUALITY] = json.dumps(quality, sort_keys=True)
            unit_ds.attrs[layout.ATTR_SPACE] = json.dumps(space, sort_keys=True)
            self._file.flush()

    def write_batch(
        self,
        indices: Sequence[int] | np.ndarray,
        *,
        ic_fields: np.ndarray,
        ic_types: Sequence[str],
        ic_kinds: Sequence[str],
        status: Sequence[str],
        diverged_step: Sequence[int] | np.ndarray | None = None,
        trajectories: np.ndarray | None = None,
        features: Mapping[str, np.ndarray] | None = None,
        unit_params: np.ndarray | None = None,
        typed_params: Mapping[str, Any] | None = None,
    ) -> None:
        """Write a batch of B complete samples, then mark them done (crash-safe order).

        :param indices: ``(B,)`` unique global sample indices, any order.
        :param ic_fields: ``(batch, channels, height, width)`` initial conditions.
        :param ic_types: ``(B,)`` IC type names.
        :param ic_kinds: ``(B,)`` registered generator names behind the types.
        :param status: ``(B,)`` each ``"ok"``, ``"diverged"`` or ``"failed"``.
        :param diverged_step: ``(B,)`` first diverged step (``>= 0`` exactly where status is ``"diverged"``,
            else ``-1``); default all ``-1``.
        :param trajectories: ``(batch, realizations, stored_steps, channels, height, width)``; required
            exactly when the dataset stores trajectories.
        :param features: family → ``(B, D)`` or ``(B, T, D)`` values for every declared family.
        :param unit_params: optional ``(B, P)`` unit-cube rows, when parameters are not written up-front.
        :param typed_params: optional name → ``(B,)`` typed values, with ``unit_params``.
        """
        self._check_open()
        idx = self._check_indices(indices)
        b = idx.size
        ics = _as_batch(ic_fields, np.float32, (b, *self._ic_shape), "ic_fields")
        types = _as_strings(ic_types, b, "ic_types")
        kinds = _as_strings(ic_kinds, b, "ic_kinds")
        statuses = _as_strings(status, b, "status")
        steps = _check_status(statuses, diverged_step, b)
        traj = None
        if self._trajectories is None:
            if trajectories is not None:
                raise ValueError("this dataset stores no trajectories; pass trajectories=None")
        else:
            if trajectories is None:
                raise ValueError("this dataset stores trajectories; pass trajectories=")
            spec = self._trajectories
            expected = (b, spec.realizations, spec.stored_steps, *self._ic_shape)
            traj = _as_batch(trajectories, np.dtype(spec.dtype), expected, "trajectories")
        feats = self._check_features(features or {}, b)

        if (unit_params is None) != (typed_params is None):
            raise ValueError("pass unit_params and typed_params together")
        arrays = [ics, steps, *([] if traj is None else [traj]), *feats.values()]
        texts = [*types, *kinds, *statuses]
        nbytes = sum(a.nbytes for a in arrays) + sum(len(t) for t in texts) + 16 * b
        what = f"samples {int(idx.min())}..{int(idx.max())}"
        with self._storage_errors(what, nbytes):
            # Data first; the done flag only after it is flushed.
            if unit_params is not None and typed_params is not None:
                self._write_parameters(idx, unit_params, typed_params)
            file = self._file
            for start, stop, pos in index_runs(idx):
                file[layout.IC_FIELDS][start:stop] = _take(ics, pos)
                file[layout.IC_TYPES][start:stop] = _take(types, pos)
                file[layout.IC_KINDS][start:stop] = _take(kinds, pos)
                file[layout.ROLLOUT_STATUS][start:stop] = _take(statuses, pos)
                file[layout.ROLLOUT_DIVERGED_STEP][start:stop] = _take(steps, pos)
                if traj is not None:
                    file[layout.TRAJECTORY_FIELDS][start:stop] = _take(traj, pos)
                for family, values in feats.items():
                    file[layout.feature_values_path(family)][start:stop] = _take(values, pos)
            file.flush()
            self._mark_done(idx)

    def _mark_done(self, idx: np.ndarray) -> None:
        done = self._file[layout.PROGRESS_DONE]
        for start, stop, _ in index_runs(idx):
            done[start:stop] = True
        self._file.flush()

    def flush(self) -> None:
        """Push everything written so far to the operating system."""
        self._check_open()
        self._file.flush()

    def close(self) -> None:
        """Flush and close the file (idempotent).

        :raises DatasetError: the final flush failed (say, the disk is full); the file is closed anyway.
        """
        if self._closed:
            return
        self._closed = True
        try:
            self._file.flush()
        except (OSError, RuntimeError) as exc:
            raise DatasetError(self._path, f"closing failed: {storage_reason(exc)}") from exc
        finally:
            with contextlib.suppress(Exception):
                self._file.close()
            with _open_paths_lock:
                _open_paths.discard(self._path.resolve())

    @contextlib.contextmanager
    def _storage_errors(self, what: str, nbytes: int) -> Iterator[None]:
        """Check for room before writing ``what``; explain a failure of the file system while writing it."""
        check_room(self._path, nbytes)
        try:
            yield
        except (OSError, RuntimeError) as exc:  # h5py raises RuntimeError for a failed flush
            raise DatasetError(
                self._path,
                f"writing {what} failed: {storage_reason(exc)}. Samples completed before are kept, but HDF5 may "
                "have left the file damaged: run `spinlock validate` on it before resuming",
            ) from exc

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- helpers ------------------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise DatasetError(self._path, "writer is closed")

    def _check_indices(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        idx = np.asarray(indices)
        if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"indices must be a non-empty 1-D integer array, got {idx.dtype} {idx.shape}")
        idx = idx.astype(np.int64)
        if idx.min() < 0 or idx.max() >= self._n:
            raise ValueError(f"indices must lie in [0, {self._n}): {idx.min()}..{idx.max()}")
        if np.unique(idx).size != idx.size:
            raise ValueError("indices must be unique")
        return idx

    def _check_features(self, features: Mapping[str, np.ndarray], b: int) -> dict[str, np.ndarray]:
        unknown = sorted(set(features) - set(self._features))
        missing = sorted(set(self._features) - set(features))
        if unknown:
            raise ValueError(f"undeclared feature families {unknown}; call declare_features first")
        if missing:
            raise ValueError(f"a complete sample needs every declared feature family; missing {missing}")
        return {
            family: _as_batch(
                values, np.float32, (b, *self._features[family].value_shape), f"features[{family}]"
            )
            for family, values in features.items()
        }

    def _write_parameters(self, idx: np.ndarray, unit: np.ndarray, typed: Mapping[str, Any]) -> None:
        b = idx.size
        unit_rows = _as_batch(unit, np.float64, (b, len(self._parameter_names)), "unit parameters")
        if (
            not np.all(np.isfinite(unit_rows))
            or unit_rows.min(initial=0.0) < 0
            or unit_rows.max(initial=0.0) >= 1
        ):
            raise ValueError("unit parameters must be finite and lie in [0, 1)")
        if set(typed) != set(self._parameter_names):
            raise ValueError(
                f"typed parameters must be exactly {list(self._parameter_names)}, got {sorted(typed)}"
            )
        columns = {name: _coerce_typed(name, self._parameter_kinds[name], typed[name], b) for name in typed}
        for start, stop, pos in index_runs(idx):
            self._file[layout.PARAMETERS_UNIT][start:stop] = _take(unit_rows, pos)
            for name, column in columns.items():
                self._file[layout.parameter_path(name)][start:stop] = _take(column, pos)


# -- module helpers -----------------------------------------------------------------------------------------


def _write_skeleton(
    file: h5py.File,
    *,
    n: int,
    names: tuple[str, ...],
    kinds: Mapping[str, TypedKind],
    ic_shape: tuple[int, ...],
    config_yaml: str,
    provenance: Mapping[str, str],
    seed: int,
    trajectories: TrajectorySpec | None,
    big: dict[str, Any],
) -> None:
    file.attrs[layout.ATTR_FORMAT_VERSION] = layout.FORMAT_VERSION
    file.attrs[layout.ATTR_CONFIG] = config_yaml
    file.attrs[layout.ATTR_PROVENANCE] = json.dumps(
        {str(k): str(val) for k, val in provenance.items()}, sort_keys=True
    )
    file.attrs[layout.ATTR_SEED] = seed
    file.attrs[layout.ATTR_N_OPERATORS] = n
    file.attrs[layout.ATTR_N_SPATIAL_DIMS] = len(ic_shape) - 1

    nan64, nan32 = np.float64(np.nan), np.float32(np.nan)
    params = file.create_group(layout.PARAMETERS)
    unit = params.create_dataset(layout.UNIT_NAME, shape=(n, len(names)), dtype=np.float64, fillvalue=nan64)
    unit.attrs[layout.ATTR_NAMES] = json.dumps(list(names))
    for name in names:
        kind = kinds[name]
        if kind == "str":
            params.create_dataset(name, shape=(n,), dtype=str_dtype())
        elif kind == "float64":
            params.create_dataset(name, shape=(n,), dtype=np.float64, fillvalue=nan64)
        else:
            params.create_dataset(name, shape=(n,), dtype=np.dtype(kind))

    ics = file.create_group(layout.INITIAL_CONDITIONS)
    ics.create_dataset(
        "fields", shape=(n, *ic_shape), dtype=np.float32, chunks=(1, *ic_shape), fillvalue=nan32, **big
    )
    for name in ("types", "kinds"):
        ics.create_dataset(name, shape=(n,), dtype=str_dtype(), chunks=_row_chunks((n,), 16))

    if trajectories is not None:
        shape = (n, trajectories.realizations, trajectories.stored_steps, *ic_shape)
        dtype = np.dtype(trajectories.dtype)
        fields = file.create_group(layout.TRAJECTORIES).create_dataset(
            "fields", shape=shape, dtype=dtype, chunks=(1, *shape[1:]), fillvalue=dtype.type(np.nan), **big
        )
        fields.attrs[layout.ATTR_STRIDE] = trajectories.stride
        fields.attrs[layout.ATTR_STEPS] = trajectories.steps

    rollout = file.create_group(layout.ROLLOUT)
    status = rollout.create_dataset("status", shape=(n,), dtype=str_dtype(), chunks=_row_chunks((n,), 16))
    status[...] = np.full(n, layout.STATUS_PENDING, dtype=object)
    rollout.create_dataset(
        "diverged_step",
        shape=(n,),
        dtype=np.int32,
        chunks=_row_chunks((n,), 4),
        fillvalue=np.int32(layout.NO_DIVERGENCE),
    )
    file.create_group(layout.PROGRESS).create_dataset(
        "done", shape=(n,), dtype=bool, chunks=_row_chunks((n,), 1), fillvalue=False
    )


def _creating_path(path: Path) -> Path:
    """Where :meth:`DatasetWriter.create` builds the file before moving it to ``path``."""
    return path.with_name(f".{path.name}.creating")


def _refuse_if_locked(path: Path) -> None:
    """Refuse to replace a file another process holds open through HDF5 (its lock is a ``flock``)."""
    try:
        import fcntl
    except ImportError:  # Windows: HDF5 refuses the locked file itself there
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # a directory, unreadable, ...: creating reports it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise DatasetError(
            path, "is open in another process (HDF5 file lock held); not replacing it while it is in use"
        ) from None
    except OSError:
        pass  # a file system without flock: HDF5 does not lock there either
    finally:
        os.close(fd)


def _compression_options(compression: Compression) -> dict[str, Any]:
    if compression == "lzf":
        return {"compression": "lzf", "shuffle": True}
    if compression == "gzip":
        return {"compression": "gzip", "compression_opts": layout.GZIP_LEVEL, "shuffle": True}
    return {}


def _row_chunks(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    row_bytes = max(1, int(np.prod(shape[1:], dtype=np.int64)) * itemsize)
    rows = int(min(shape[0], max(1, _SMALL_CHUNK_BYTES // row_bytes)))
    return (rows, *shape[1:])


def _check_parameter_names(names: Sequence[str], dtypes: Mapping[str, Any]) -> tuple[str, ...]:
    names = tuple(names)
    if len(set(names)) != len(names):
        raise ValueError(f"parameter names must be unique: {list(names)}")
    for name in names:
        if not isinstance(name, str) or not name or "/" in name or name in (layout.UNIT_NAME, "."):
            raise ValueError(f"invalid parameter name {name!r} (non-empty, no '/', not 'unit')")
    if set(dtypes) != set(names):
        raise ValueError(
            f"parameter_dtypes must name exactly the parameters {list(names)}, got {sorted(dtypes)}"
        )
    return names


def _normalize_kind(name: str, dtype: Any) -> TypedKind:
    if dtype in ("str", str):
        return "str"
    try:
        kind = np.dtype(dtype).kind
    except TypeError:
        raise ValueError(f"parameter {name!r}: unsupported dtype {dtype!r}") from None
    if kind == "b":
        return "bool"
    if kind in "iu":
        return "int64"
    if kind == "f":
        return "float64"
    if kind in "USO":
        return "str"
    raise ValueError(f"parameter {name!r}: unsupported dtype {dtype!r} (int, float, bool or 'str')")


def _stored_kind(ds: h5py.Dataset) -> TypedKind:
    if h5py.check_string_dtype(ds.dtype) is not None:
        return "str"
    kinds: dict[str, TypedKind] = {"b": "bool", "i": "int64", "u": "int64", "f": "float64"}
    return kinds[ds.dtype.kind]


def _coerce_typed(name: str, kind: TypedKind, values: Any, b: int) -> np.ndarray:
    if kind == "str":
        return _as_strings(values, b, f"parameter {name!r}")
    arr = np.asarray(values)
    if arr.shape != (b,):
        raise ValueError(f"parameter {name!r}: expected shape ({b},), got {arr.shape}")
    if kind == "float64":
        return arr.astype(np.float64)
    if kind == "int64":
        if arr.dtype.kind == "f" and not np.all(arr == np.round(arr)):
            raise ValueError(f"parameter {name!r} is an integer parameter but got non-integral values")
        return arr.astype(np.int64)
    if arr.dtype.kind != "b" and not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"parameter {name!r} is boolean but got values other than 0/1")
    return arr.astype(bool)


def _as_batch(values: Any, dtype: np.dtype | type, shape: tuple[int, ...], what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.shape != shape:
        raise ValueError(f"{what}: expected shape {shape}, got {arr.shape}")
    return np.ascontiguousarray(arr, dtype=dtype)


def _as_strings(values: Any, b: int, what: str) -> np.ndarray:
    items = list(values)
    if len(items) != b:
        raise ValueError(f"{what}: expected {b} strings, got {len(items)}")
    if not all(isinstance(item, str) for item in items):
        raise ValueError(f"{what}: every entry must be a str")
    arr = np.empty(b, dtype=object)
    arr[:] = items
    return arr


def _check_status(statuses: np.ndarray, diverged_step: Any, b: int) -> np.ndarray:
    bad = sorted({s for s in statuses if s not in layout.WRITTEN_STATUSES})
    if bad:
        raise ValueError(f"status must be one of {layout.WRITTEN_STATUSES}, got {bad}")
    if diverged_step is None:
        steps = np.full(b, layout.NO_DIVERGENCE, dtype=np.int32)
    else:
        steps = _as_batch(diverged_step, np.int32, (b,), "diverged_step")
    diverged = statuses == layout.STATUS_DIVERGED
    if np.any(steps[diverged] < 0) or np.any(steps[~diverged] != layout.NO_DIVERGENCE):
        raise ValueError("diverged_step must be >= 0 exactly where status is 'diverged', else -1")
    return steps


def _take(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    first = int(positions[0])
    if positions.size == 1 or np.all(np.diff(positions) == 1):
        return values[first : first + positions.size]  # a view: no copy of big arrays in the common case
    return values[positions]


def _make_declaration(
    family: str,
    names: Sequence[str],
    version: str,
    provider: str,
    per_timestep: int | None,
    categories: Sequence[str] | None,
) -> FeatureDeclaration:
    if not isinstance(family, str) or not family or "/" in family or family == ".":
        raise ValueError(f"invalid feature family name {family!r}")
    names = tuple(str(name) for name in names)
    if not names or len(set(names)) != len(names):
        raise ValueError(f"feature family {family!r}: names must be non-empty and unique")
    if per_timestep is not None and int(per_timestep) < 1:
        raise ValueError(f"feature family {family!r}: per_timestep_T must be >= 1")
    cats = None if categories is None else tuple(str(c) for c in categories)
    if cats is not None and len(cats) != len(names):
        raise ValueError(f"feature family {family!r}: {len(cats)} categories for {len(names)} columns")
    return FeatureDeclaration(
        family=family,
        names=names,
        version=str(version),
        provider=str(provider),
        per_timestep=None if per_timestep is None else int(per_timestep),
        categories=cats,
    )


def _token_names(names: Sequence[str], what: str) -> tuple[str, ...]:
    if isinstance(names, str | bytes) or not isinstance(names, Sequence | np.ndarray):
        raise ValueError(f"{what} must be a list of names, got {names!r}")
    items = tuple(names)
    if not items:
        raise ValueError(f"{what} must not be empty")
    bad = [item for item in items if not isinstance(item, str) or not item]
    if bad:
        raise ValueError(f"{what} must be non-empty strings, got {bad}")
    items = tuple(str(item) for item in items)
    if len(set(items)) != len(items):
        raise ValueError(f"{what} must be unique, got {list(items)}")
    return items


def _size(value: Any, what: str) -> int:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise ValueError(f"{what}: codebook sizes must be integers, got {value!r}")
    if not 1 <= int(value) <= np.iinfo(np.int32).max:
        raise ValueError(f"{what}: codebook sizes must be >= 1 (and fit int32), got {value}")
    return int(value)


def _codebook_sizes(
    sizes: Sequence[int] | Sequence[Sequence[int]], k: int, n_levels: int, what: str
) -> tuple[tuple[int, ...], ...]:
    """``sizes`` as K×L: L ints are shared by every category, a K×L nested list is taken as is."""
    if isinstance(sizes, str | bytes) or not isinstance(sizes, Sequence | np.ndarray):
        raise ValueError(f"{what}: codebook_sizes must be a list of {n_levels} ints or {k}x{n_levels} lists")
    items: list[Any] = list(sizes)
    nested = bool(items) and all(
        isinstance(row, Sequence | np.ndarray) and not isinstance(row, str | bytes) for row in items
    )
    if nested:
        rows = [list(row) for row in items]
        if len(rows) != k or any(len(row) != n_levels for row in rows):
            raise ValueError(
                f"{what}: codebook_sizes must be {k} rows (categories) of {n_levels} sizes (levels), got "
                f"{len(rows)} rows of lengths {[len(row) for row in rows]}"
            )
        return tuple(tuple(_size(size, what) for size in row) for row in rows)
    if len(items) != n_levels:
        raise ValueError(
            f"{what}: codebook_sizes has {len(items)} entries for {n_levels} levels "
            f"(give one size per level, or a {k}x{n_levels} nested list)"
        )
    level_sizes = tuple(_size(size, what) for size in items)
    return tuple(level_sizes for _ in range(k))


def _check_token_range(
    ids: np.ndarray,
    sizes: tuple[tuple[int, ...], ...],
    categories: tuple[str, ...],
    levels: tuple[str, ...],
    what: str,
) -> None:
    """Raise for the first id outside ``[-1, codebook size)``, naming its row, category and level."""
    if ids.size == 0:
        return
    if ids.dtype.kind == "u":  # compare unsigned ids as unsigned: a cast to int64 could wrap to -1
        bad = ids >= np.asarray(sizes, dtype=np.uint64)
    else:
        wide = ids.astype(np.int64)
        bad = (wide < layout.NOT_TOKENIZED) | (wide >= np.asarray(sizes, dtype=np.int64))
    if not bad.any():
        return
    row, k, lev = (int(i) for i in np.argwhere(bad)[0])
    raise ValueError(
        f"{what}: {int(bad.sum())} ids outside [-1, codebook size), e.g. row {row}, category "
        f"{categories[k]!r}, level {levels[lev]!r}: id {int(ids[row, k, lev])} with codebook size "
        f"{sizes[k][lev]}"
    )


def _read_declaration(file: h5py.File, family: str) -> FeatureDeclaration:
    values = file[layout.feature_values_path(family)]
    cats = values.attrs.get(layout.ATTR_CATEGORIES)
    return FeatureDeclaration(
        family=family,
        names=tuple(attr_json(values.attrs[layout.ATTR_NAMES])),
        version=attr_text(values.attrs[layout.ATTR_VERSION]),
        provider=attr_text(values.attrs.get(layout.ATTR_PROVIDER, "")),
        per_timestep=int(values.shape[1]) if values.ndim == 3 else None,
        categories=None if cats is None else tuple(attr_json(cats)),
    )


def _diff(stored: str, given: str, limit: int = 20) -> str:
    lines = list(
        difflib.unified_diff(
            stored.splitlines(), given.splitlines(), "stored config", "given config", lineterm="", n=1
        )
    )
    if len(lines) > limit:
        lines = [*lines[:limit], f"... ({len(lines) - limit} more diff lines)"]
    return "\n".join(lines)
