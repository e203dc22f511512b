"""Typed, read-only access to a Spinlock dataset file."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, Self

import attrs
import h5py
import numpy as np

from spinlock.core.storage import layout
from spinlock.core.storage._files import attr_json, attr_text, check_format_version, open_hdf5, reading
from spinlock.core.storage._strings import complete_rows, read_strings
from spinlock.core.storage.errors import DatasetError


class FeatureValues(NamedTuple):
    """One family's values with their column names and the family version."""

    values: np.ndarray
    names: list[str]
    version: str


@attrs.frozen
class FeatureFamilyInfo:
    """How a feature family is stored: D columns, optionally per timestep (T)."""

    family: str
    names: tuple[str, ...]
    version: str
    provider: str
    per_timestep: int | None
    categories: tuple[str, ...] | None

    @property
    def dim(self) -> int:
        """D, the number of columns."""
        return len(self.names)


@attrs.frozen(eq=False)
class TokenValues:
    """One token set ``/tokens/<name>``: ids with the categories, levels and model they belong to.

    :param name: the tokenizer name.
    :param ids: ``(N, K, L)`` int32 token ids (``(B, K, L)`` when read by indices), ``-1`` where the sample
        was not tokenized.
    :param categories: the K category names (axis 1).
    :param levels: the L level names (axis 2), coarse first.
    :param codebook_sizes: K×L codes per category and level; ids lie in ``[0, size)``.
    :param model: provenance of the model that made the tokens (path, sha256, created, ...).
    :param model_config: the model's configuration, YAML text.
    :param version: version of the tokens.
    :param provider: distribution and version that wrote them.
    """

    name: str
    ids: np.ndarray = attrs.field(repr=lambda ids: f"<{ids.dtype} array of shape {ids.shape}>")
    categories: tuple[str, ...]
    levels: tuple[str, ...]
    codebook_sizes: tuple[tuple[int, ...], ...]
    model: dict[str, Any]
    model_config: str
    version: str
    provider: str

    @property
    def n_categories(self) -> int:
        """K."""
        return len(self.categories)

    @property
    def n_levels(self) -> int:
        """L."""
        return len(self.levels)

    @property
    def tokenized(self) -> np.ndarray:
        """``(N,)`` (or ``(B,)``) bool: samples with a token for every category and level (no ``-1``)."""
        return np.all(self.ids != -1, axis=(1, 2))


class DatasetReader:
    """Opens ``path`` read-only and checks that it is a Spinlock dataset this code can read.

    Every failure (missing file, not HDF5, truncated, foreign, newer format, locked by a writer, missing
    dataset) raises :class:`DatasetError` naming the problem. Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str | PathLike[str], *, file: h5py.File | None = None) -> None:
        """Open ``path`` read-only, or read through an already open ``file`` (not closed by :meth:`close`)."""
        self._path = Path(path)
        self._owns_file = file is None
        self._file = open_hdf5(self._path, "r") if file is None else file
        try:
            with reading(self._path, "root attributes"):
                self._format_version = check_format_version(self._path, self._file)
        except BaseException:
            if self._owns_file:
                self._file.close()
            raise

    # -- lifecycle ----------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the file (idempotent); a file handed in by the caller stays open."""
        if self._owns_file:
            self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def path(self) -> Path:
        """The dataset file."""
        return self._path

    @property
    def file(self) -> h5py.File:
        """The underlying read-only h5py file, for layout extensions this reader does not wrap."""
        return self._file

    # -- root attributes ----------------------------------------------------------------------------------

    @property
    def format_version(self) -> int:
        """Layout version the file was written with."""
        return self._format_version

    @property
    def n_operators(self) -> int:
        """N."""
        return int(self._attr(layout.ATTR_N_OPERATORS))

    @property
    def n_spatial_dims(self) -> int:
        """Number of spatial axes (2 for ``(H, W)`` fields)."""
        return int(self._attr(layout.ATTR_N_SPATIAL_DIMS))

    @property
    def seed(self) -> int:
        """Root seed the dataset was generated with."""
        return int(self._attr(layout.ATTR_SEED))

    @property
    def config_yaml(self) -> str:
        """The config the dataset was made from, as YAML text."""
        return attr_text(self._attr(layout.ATTR_CONFIG))

    @property
    def provenance(self) -> dict[str, str]:
        """Distribution → version of everything that took part."""
        with reading(self._path, "root attribute 'provenance' (JSON)"):
            try:
                return dict(attr_json(self._attr(layout.ATTR_PROVENANCE)))
            except ValueError as exc:
                raise DatasetError(
                    self._path, f"root attribute 'provenance' is not valid JSON: {exc}"
                ) from exc

    # -- parameters ---------------------------------------------------------------------------------------

    @property
    def compute_plan(self) -> dict[str, Any] | None:
        """The compute plan the data was made with (batch size, device, precision), if recorded."""
        raw = self._file.attrs.get(layout.ATTR_COMPUTE_PLAN)
        return None if raw is None else dict(attr_json(raw))

    @property
    def shard(self) -> dict[str, int] | None:
        """``{"index": i, "count": N, "samples": k}`` on a shard file (``--shard i/N``), else ``None``."""
        raw = self._file.attrs.get(layout.ATTR_SHARD)
        return None if raw is None else {str(k): int(v) for k, v in attr_json(raw).items()}

    @property
    def parameter_names(self) -> list[str]:
        """Unit-cube column names, in order."""
        return list(self._json_attr(layout.PARAMETERS_UNIT, layout.ATTR_NAMES))

    def unit_parameters(self, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """``(N, P)`` (or ``(B, P)``) float64 unit-cube points."""
        return self._float_rows(layout.PARAMETERS_UNIT, indices, ndims=(2,))

    def parameters(self, indices: Sequence[int] | np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Typed parameters: name → ``(N,)`` (or ``(B,)``) int64 / float64 / bool / str (object) array."""
        return {name: self._rows(layout.parameter_path(name), indices) for name in self.parameter_names}

    @property
    def parameter_quality(self) -> dict[str, Any]:
        """Sample-quality metrics stored with the parameters (empty when not written)."""
        return dict(self._json_attr(layout.PARAMETERS_UNIT, layout.ATTR_QUALITY, default={}))

    @property
    def parameter_space(self) -> Any:
        """Description of the parameter space (``None`` when not written)."""
        return self._json_attr(layout.PARAMETERS_UNIT, layout.ATTR_SPACE, default=None)

    # -- initial conditions -------------------------------------------------------------------------------

    @property
    def ic_shape(self) -> tuple[int, ...]:
        """``(channels, height, width)`` of one initial condition."""
        ds = self._float_dataset(layout.IC_FIELDS, ndims=(2 + self.n_spatial_dims,))
        return tuple(ds.shape[1:])

    def initial_conditions(self, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """``(N, channels, height, width)`` float32 (or ``(B, ...)`` for ``indices``); NaN where not written."""
        return self._float_rows(layout.IC_FIELDS, indices, ndims=(2 + self.n_spatial_dims,))

    def ic_types(self) -> list[str]:
        """``N`` IC type names (``""`` for samples not yet complete)."""
        return self._sample_strings(layout.IC_TYPES, "")

    def ic_kinds(self) -> list[str]:
        """``N`` registered generator names behind the IC types (``""`` for samples not yet complete)."""
        return self._sample_strings(layout.IC_KINDS, "")

    # -- trajectories -------------------------------------------------------------------------------------

    @property
    def has_trajectories(self) -> bool:
        """Whether rollouts are stored."""
        return layout.TRAJECTORY_FIELDS in self._file

    @property
    def stride(self) -> int | None:
        """Time stride of stored states, or ``None`` without trajectories."""
        if not self.has_trajectories:
            return None
        with reading(self._path, f"attribute 'stride' of {layout.TRAJECTORY_FIELDS}"):
            return int(self._file[layout.TRAJECTORY_FIELDS].attrs[layout.ATTR_STRIDE])

    @property
    def steps(self) -> int | None:
        """Rollout steps T (before striding), or ``None`` without trajectories."""
        if not self.has_trajectories:
            return None
        with reading(self._path, f"attribute 'steps' of {layout.TRAJECTORY_FIELDS}"):
            return int(self._file[layout.TRAJECTORY_FIELDS].attrs[layout.ATTR_STEPS])

    @property
    def trajectory_shape(self) -> tuple[int, ...] | None:
        """``(N, M, T', C, H, W)`` or ``None`` without trajectories."""
        if not self.has_trajectories:
            return None
        return tuple(self._float_dataset(layout.TRAJECTORY_FIELDS, ndims=(4 + self.n_spatial_dims,)).shape)

    @property
    def trajectory_dtype(self) -> str | None:
        """Stored dtype of trajectories (``"float32"`` or ``"float16"``), or ``None`` without trajectories."""
        return str(self._dataset(layout.TRAJECTORY_FIELDS).dtype) if self.has_trajectories else None

    def trajectories(self, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray | None:
        """``(batch, realizations, stored_steps, channels, height, width)`` in the stored dtype, or ``None``."""
        if not self.has_trajectories:
            return None
        return self._float_rows(layout.TRAJECTORY_FIELDS, indices, ndims=(4 + self.n_spatial_dims,))

    # -- rollout outcome and progress ---------------------------------------------------------------------

    def status(self) -> list[str]:
        """``N`` statuses: ``ok``, ``diverged``, ``failed``, or ``pending`` for every sample not yet complete."""
        return self._sample_strings(layout.ROLLOUT_STATUS, layout.STATUS_PENDING)

    def diverged_step(self) -> np.ndarray:
        """``(N,)`` int32 first diverged step, ``-1`` for none."""
        return self._rows(layout.ROLLOUT_DIVERGED_STEP, None)

    def done(self) -> np.ndarray:
        """``(N,)`` bool: which samples are complete."""
        return self._rows(layout.PROGRESS_DONE, None)

    # -- features -----------------------------------------------------------------------------------------

    def feature_families(self) -> list[str]:
        """Names of the stored feature families, sorted."""
        if layout.FEATURES not in self._file:
            return []
        with reading(self._path, layout.FEATURES):
            return sorted(self._file[layout.FEATURES])

    def feature_info(self, family: str) -> FeatureFamilyInfo:
        """Column names, version, provider, categories and shape of one family."""
        path = layout.feature_values_path(family)
        values = self._dataset(path)
        cats = self._json_attr(path, layout.ATTR_CATEGORIES, default=None)
        return FeatureFamilyInfo(
            family=family,
            names=tuple(self._json_attr(path, layout.ATTR_NAMES)),
            version=attr_text(self._attr(layout.ATTR_VERSION, path)),
            provider=attr_text(values.attrs.get(layout.ATTR_PROVIDER, "")),
            per_timestep=int(values.shape[1]) if values.ndim == 3 else None,
            categories=None if cats is None else tuple(cats),
        )

    def features(self, family: str, indices: Sequence[int] | np.ndarray | None = None) -> FeatureValues:
        """``(values, names, version)``: values are ``(N, D)`` or ``(N, T, D)`` float32, NaN where not written."""
        info = self.feature_info(family)
        return FeatureValues(
            self._float_rows(layout.feature_values_path(family), indices, ndims=(2, 3)),
            list(info.names),
            info.version,
        )

    # -- tokens -------------------------------------------------------------------------------------------

    def token_sets(self) -> list[str]:
        """Names of the stored token sets (``/tokens/<name>``), sorted; leftovers of interrupted writes are
        not token sets and are left out."""
        if layout.TOKENS not in self._file:
            return []
        with reading(self._path, layout.TOKENS):
            return sorted(name for name in self._file[layout.TOKENS] if layout.is_tokenizer_name(name))

    def tokens(self, name: str, indices: Sequence[int] | np.ndarray | None = None) -> TokenValues:
        """The token set ``name``: ``(N, K, L)`` int32 ids (or ``(B, K, L)`` for ``indices``) and their
        description. Raises :class:`DatasetError` for an unknown set (naming the stored ones) or one whose
        attributes are missing or inconsistent with its ids."""
        available = self.token_sets()
        if name not in available:
            stored = ", ".join(repr(n) for n in available) or "none (run `spinlock tokenize`)"
            raise DatasetError(self._path, f"no token set {name!r}; stored token sets: {stored}")
        path = layout.token_ids_path(name)
        ds = self._dataset(path)
        if ds.ndim != 3 or ds.dtype.kind not in "iu":
            raise DatasetError(
                self._path, f"{path} must be an (N, K, L) integer array, got {ds.dtype} {ds.shape}"
            )
        categories = self._json_attr(path, layout.ATTR_CATEGORIES)
        levels = self._json_attr(path, layout.ATTR_LEVELS)
        sizes = self._json_attr(path, layout.ATTR_CODEBOOK_SIZES)
        model = self._json_attr(path, layout.ATTR_MODEL)
        k, n_levels = int(ds.shape[1]), int(ds.shape[2])
        if not _is_str_list(categories, k):
            raise DatasetError(
                self._path, f"attribute 'categories' of {path} must be a JSON list of {k} names"
            )
        if not _is_str_list(levels, n_levels):
            raise DatasetError(
                self._path, f"attribute 'levels' of {path} must be a JSON list of {n_levels} names"
            )
        if not layout.is_codebook_sizes(sizes, k, n_levels):
            raise DatasetError(
                self._path,
                f"attribute 'codebook_sizes' of {path} must be a JSON {k}x{n_levels} list of ints >= 1",
            )
        if not isinstance(model, dict):
            raise DatasetError(self._path, f"attribute 'model' of {path} must be a JSON object")
        return TokenValues(
            name=name,
            ids=np.asarray(self._rows(path, indices), dtype=np.int32),
            categories=tuple(categories),
            levels=tuple(levels),
            codebook_sizes=tuple(tuple(int(size) for size in row) for row in sizes),
            model=model,
            model_config=attr_text(self._attr(layout.ATTR_MODEL_CONFIG, path)),
            version=attr_text(self._attr(layout.ATTR_VERSION, path)),
            provider=attr_text(self._attr(layout.ATTR_PROVIDER, path)),
        )

    # -- helpers ------------------------------------------------------------------------------------------

    def _sample_strings(self, path: str, fill: str) -> list[str]:
        """A per-sample string dataset, read at complete samples only (see ``_strings``)."""
        self._rows(path, [])  # checks the dataset and its length
        with reading(self._path, path):
            return read_strings(self._dataset(path), complete_rows(self._file), fill).tolist()

    def _dataset(self, path: str) -> h5py.Dataset:
        with reading(self._path, path):
            obj = self._file[path]
        if not isinstance(obj, h5py.Dataset):
            raise DatasetError(self._path, f"{path} is not a dataset")
        return obj

    def _attr(self, name: str, obj_path: str = "/") -> Any:
        with reading(self._path, f"attribute {name!r} of {obj_path}"):
            return self._file[obj_path].attrs[name]

    def _json_attr(self, obj_path: str, name: str, *, default: Any = ...) -> Any:
        with reading(self._path, f"attribute {name!r} of {obj_path}"):
            attrs_ = self._file[obj_path].attrs
            if name not in attrs_ and default is not ...:
                return default
            raw = attrs_[name]
        try:
            return attr_json(raw)
        except ValueError as exc:
            raise DatasetError(
                self._path, f"attribute {name!r} of {obj_path} is not valid JSON: {exc}"
            ) from exc

    def _float_rows(
        self, path: str, indices: Sequence[int] | np.ndarray | None, *, ndims: tuple[int, ...]
    ) -> np.ndarray:
        """:meth:`_rows` of a floating-point array whose rank is one of ``ndims``."""
        self._float_dataset(path, ndims=ndims)
        return self._rows(path, indices)

    def _float_dataset(self, path: str, *, ndims: tuple[int, ...]) -> h5py.Dataset:
        """The dataset at ``path``, checked to be floating-point with a rank in ``ndims``."""
        ds = self._dataset(path)
        if ds.dtype.kind != "f" or ds.ndim not in ndims:
            rank = " or ".join(map(str, ndims))
            raise DatasetError(
                self._path,
                f"{path} must be a floating-point array with {rank} dimensions, got {ds.dtype} {ds.shape} "
                "(`spinlock validate` lists every problem)",
            )
        return ds

    def _rows(self, path: str, indices: Sequence[int] | np.ndarray | None) -> np.ndarray:
        ds = self._dataset(path)
        n_rows = ds.shape[0] if ds.ndim else None
        if n_rows != self.n_operators:
            raise DatasetError(
                self._path,
                f"{path} has {n_rows if n_rows is not None else 'no'} rows; the dataset has N = "
                f"{self.n_operators} operators (`spinlock validate` lists every problem)",
            )
        if h5py.check_string_dtype(ds.dtype) is not None:
            ds = ds.asstr()
        with reading(self._path, path):
            if indices is None:
                return ds[...]
            idx = np.asarray(indices, dtype=np.int64)
            n = self._file[path].shape[0]
            if idx.ndim != 1 or (idx.size and (idx.min() < -n or idx.max() >= n)):
                raise IndexError(f"indices out of range for {path} with {n} rows")
            idx = np.where(idx < 0, idx + n, idx)
            # h5py needs increasing unique indices; read those once and scatter back to the asked order.
            unique, inverse = np.unique(idx, return_inverse=True)
            if unique.size == 0:
                return ds[0:0]
            if unique[-1] - unique[0] + 1 == unique.size:
                block = ds[int(unique[0]) : int(unique[-1]) + 1]
            else:
                block = ds[unique]
            return block[inverse]


def _is_str_list(value: Any, length: int) -> bool:
    return isinstance(value, list) and len(value) == length and all(isinstance(v, str) for v in value)


@contextmanager
def open_dataset(path: str | PathLike[str]) -> Iterator[DatasetReader]:
    """``with open_dataset(path) as ds: ...`` — a :class:`DatasetReader` closed on exit."""
    reader = DatasetReader(path)
    try:
        yield reader
    finally:
        reader.close()
