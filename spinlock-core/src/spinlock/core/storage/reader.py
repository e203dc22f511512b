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
    def parameter_names(self) -> list[str]:
        """Unit-cube column names, in order."""
        return list(self._json_attr(layout.PARAMETERS_UNIT, layout.ATTR_NAMES))

    def unit_parameters(self, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """``(N, P)`` (or ``(B, P)``) float64 unit-cube points."""
        return self._rows(layout.PARAMETERS_UNIT, indices)

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
        return tuple(self._dataset(layout.IC_FIELDS).shape[1:])

    def initial_conditions(self, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """``(N, channels, height, width)`` float32 (or ``(B, ...)`` for ``indices``); NaN where not written."""
        return self._rows(layout.IC_FIELDS, indices)

    def ic_types(self) -> list[str]:
        """``N`` IC type names (``""`` for samples not yet written)."""
        return self._rows(layout.IC_TYPES, None).tolist()

    def ic_kinds(self) -> list[str]:
        """``N`` registered generator names behind the IC types."""
        return self._rows(layout.IC_KINDS, None).tolist()

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
        return tuple(self._dataset(layout.TRAJECTORY_FIELDS).shape) if self.has_trajectories else None

    @property
    def trajectory_dtype(self) -> str | None:
        """Stored dtype of trajectories (``"float32"`` or ``"float16"``), or ``None`` without trajectories."""
        return str(self._dataset(layout.TRAJECTORY_FIELDS).dtype) if self.has_trajectories else None

    def trajectories(self, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray | None:
        """``(batch, realizations, stored_steps, channels, height, width)`` in the stored dtype, or ``None``."""
        if not self.has_trajectories:
            return None
        return self._rows(layout.TRAJECTORY_FIELDS, indices)

    # -- rollout outcome and progress ---------------------------------------------------------------------

    def status(self) -> list[str]:
        """``N`` statuses: ``ok``, ``diverged``, ``failed`` or ``pending``."""
        return self._rows(layout.ROLLOUT_STATUS, None).tolist()

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
            self._rows(layout.feature_values_path(family), indices), list(info.names), info.version
        )

    # -- helpers ------------------------------------------------------------------------------------------

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

    def _rows(self, path: str, indices: Sequence[int] | np.ndarray | None) -> np.ndarray:
        ds = self._dataset(path)
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


@contextmanager
def open_dataset(path: str | PathLike[str]) -> Iterator[DatasetReader]:
    """``with open_dataset(path) as ds: ...`` — a :class:`DatasetReader` closed on exit."""
    reader = DatasetReader(path)
    try:
        yield reader
    finally:
        reader.close()
