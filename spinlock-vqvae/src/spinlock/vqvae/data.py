"""Feature tables for the VQ-VAE: which families, which samples, and the per-timestep scaler.

The static input is the concatenation of the per-sample families (INITIAL, SUMMARY and, when enabled,
ARCHITECTURE) with columns named ``<family>::<column>``; the per-timestep TEMPORAL family stays
``(samples, time, features)`` and goes through its own learned sequence encoder. Only samples whose rollout
status is ``ok`` are used for training (diverged operators have no meaningful trajectory features); the
others get token id -1.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from spinlock.vqvae.cleaning import fit_lambdas, robust_std, yeo_johnson

#: separator between the family and the column in static feature names
SEPARATOR = "::"


@attrs.frozen(eq=False)
class FeatureTable:
    """Features of N samples.

    :param static: ``(samples, features)`` float64, NaN where a value is missing.
    :param names: ``<family>::<column>`` per static column.
    :param temporal: ``(samples, time, temporal_features)`` float32, or ``None`` without a temporal family.
    :param temporal_names: column names of ``temporal``.
    :param rows: the dataset rows these samples come from ``(samples,)``.
    """

    static: np.ndarray
    names: tuple[str, ...]
    temporal: np.ndarray | None
    temporal_names: tuple[str, ...]
    rows: np.ndarray

    @property
    def families(self) -> tuple[str, ...]:
        """The family of every static column."""
        return tuple(n.split(SEPARATOR, 1)[0] for n in self.names)

    def __len__(self) -> int:
        return int(self.static.shape[0])

    def take(self, index: np.ndarray) -> FeatureTable:
        """The samples at positions ``index`` (not dataset rows)."""
        return FeatureTable(
            static=self.static[index],
            names=self.names,
            temporal=None if self.temporal is None else self.temporal[index],
            temporal_names=self.temporal_names,
            rows=self.rows[index],
        )


def table_from_arrays(
    static: Mapping[str, Any],
    static_names: Mapping[str, Sequence[str]],
    temporal: Any = None,
    temporal_names: Sequence[str] = (),
) -> FeatureTable:
    """A :class:`FeatureTable` from plain arrays: ``static`` maps family → ``(samples, D_f)``.

    :raises ValueError: mismatched sample counts or column-name lengths, or no static family.
    """
    if not static:
        raise ValueError("no static feature family given")
    blocks, names = [], []
    n: int | None = None
    for family, values in static.items():
        block = np.asarray(values, dtype=np.float64)
        if block.ndim != 2:
            raise ValueError(f"family {family!r} must be (samples, features), got shape {block.shape}")
        cols = list(static_names.get(family, [f"f{i}" for i in range(block.shape[1])]))
        if len(cols) != block.shape[1]:
            raise ValueError(f"family {family!r} has {block.shape[1]} columns but {len(cols)} names")
        if n is not None and block.shape[0] != n:
            raise ValueError(f"family {family!r} has {block.shape[0]} samples, others have {n}")
        n = block.shape[0]
        blocks.append(block)
        names += [f"{family}{SEPARATOR}{c}" for c in cols]
    assert n is not None
    seq = None
    if temporal is not None:
        seq = np.asarray(temporal, dtype=np.float32)
        if seq.ndim != 3 or seq.shape[0] != n:
            raise ValueError(f"temporal must be ({n}, time, features), got shape {seq.shape}")
        if len(temporal_names) not in (0, seq.shape[2]):
            raise ValueError(f"temporal has {seq.shape[2]} columns but {len(temporal_names)} names")
        temporal_names = temporal_names or [f"t{i}" for i in range(seq.shape[2])]
    return FeatureTable(
        static=np.concatenate(blocks, axis=1),
        names=tuple(names),
        temporal=seq,
        temporal_names=tuple(temporal_names) if seq is not None else (),
        rows=np.arange(n),
    )


def load_table(
    path: str | Path,
    static_families: Sequence[str],
    temporal_family: str | None = "temporal",
    *,
    only_ok: bool = True,
) -> FeatureTable:
    """Read the named families of a dataset (samples with status ``ok`` only, unless ``only_ok`` is off).

    :raises ValueError: a family is missing (the message lists those present) or has the wrong shape.
    """
    from spinlock.core.storage import open_dataset

    with open_dataset(path) as reader:
        present = reader.feature_families()
        wanted = [*static_families, *([temporal_family] if temporal_family else [])]
        missing = [f for f in wanted if f not in present]
        if missing:
            raise ValueError(
                f"{path}: feature families {missing} are missing (present: {present}); "
                "add them with `spinlock extract` or list them in the config's features section"
            )
        status = np.asarray(reader.status())
        done = np.asarray(reader.done(), dtype=bool)
        keep = done & (status == "ok") if only_ok else done
        rows = np.flatnonzero(keep)
        if rows.size == 0:
            raise ValueError(f"{path}: no completed samples with status ok to train on")
        static, static_names = {}, {}
        for family in static_families:
            values = reader.features(family, rows)
            if values.values.ndim != 2:
                raise ValueError(f"{path}: family {family!r} is per-timestep; use it as the temporal family")
            static[family] = values.values
            static_names[family] = values.names
        temporal: np.ndarray | None = None
        temporal_names: tuple[str, ...] = ()
        if temporal_family:
            values = reader.features(temporal_family, rows)
            if values.values.ndim != 3:
                raise ValueError(f"{path}: temporal family {temporal_family!r} is not per-timestep")
            temporal, temporal_names = values.values, tuple(values.names)
    table = table_from_arrays(static, static_names, temporal, temporal_names)
    return attrs.evolve(table, rows=rows)


@attrs.frozen(eq=False)
class TemporalScaler:
    """Per-column scaling of ``(samples, time, features)`` fitted on training samples (all steps pooled).

    With ``robust`` statistics (``shift``, ``spread``; from :meth:`fit` with ``outlier_k`` or
    ``power_transform``) each value is first put on a robust scale ``u = (x − median) / σ̂``, capped to
    ``±cap`` and passed through the Yeo–Johnson transform with the column's ``power_lambda`` — the static
    cleaning's steps 4–5 (:mod:`spinlock.vqvae.cleaning`), so a heavy-tailed TEMPORAL feature (a kurtosis,
    an energy) is not a spike whose tail samples decide the codebook. Then it is standardised by ``centre``
    and ``scale``. Non-finite inputs become 0 (the column's centre); columns that do not vary keep scale 1.
    """

    centre: np.ndarray  # (features,)
    scale: np.ndarray  # (features,)
    shift: np.ndarray | None = None  # (features,) median, with spread
    spread: np.ndarray | None = None  # (features,) robust standard deviation σ̂
    cap: float | None = None
    power_lambda: np.ndarray | None = None  # (features,)

    @classmethod
    def fit(
        cls,
        values: np.ndarray,
        outlier_k: float | None = None,
        power_transform: bool = False,
        max_rows: int = 20_000,
        seed: int = 0,
    ) -> TemporalScaler:
        """Fit on ``values`` ``(samples, time, features)``; ``max_rows`` (sample, step) rows, drawn seeded,
        fit the Yeo–Johnson λ."""
        flat = np.asarray(values, dtype=np.float64).reshape(-1, values.shape[-1])
        filled = np.where(np.isfinite(flat), flat, np.nan)
        shift = spread = lambdas = None
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a column with no finite value: centre 0
            if outlier_k is not None or power_transform:
                shift = np.nan_to_num(np.nanmedian(filled, axis=0))
                q25, q75 = np.nanpercentile(filled, [25, 75], axis=0)
                mad = np.nanmedian(np.abs(filled - shift), axis=0)
                magnitude = 1.0 + np.abs(shift)
                spread = robust_std(mad, q75 - q25, np.nanstd(filled, axis=0), magnitude, 1e-12)
                spread = np.where(np.nan_to_num(spread) > 1e-12 * magnitude, spread, 1.0)  # constant: keep
                filled = (filled - shift) / spread
                if outlier_k is not None:
                    filled = np.clip(filled, -outlier_k, outlier_k)
                if power_transform:
                    rows = np.random.default_rng(seed).permutation(len(filled))[:max_rows]
                    lambdas = fit_lambdas(np.nan_to_num(filled[np.sort(rows)]))
                    filled = yeo_johnson(filled, lambdas)
            centre = np.nan_to_num(np.nanmean(filled, axis=0))
            scale = np.nan_to_num(np.nanstd(filled, axis=0))
        scale = np.where(scale > 1e-12 * (1.0 + np.abs(centre)), scale, 1.0)
        return cls(
            centre=centre, scale=scale, shift=shift, spread=spread, cap=outlier_k, power_lambda=lambdas
        )

    def transform(self, values: np.ndarray) -> np.ndarray:
        """``(samples, time, features)`` → scaled float32, finite."""
        x = np.asarray(values, dtype=np.float64)
        finite = np.isfinite(x)
        with np.errstate(all="ignore"):
            if self.shift is not None and self.spread is not None:
                x = (x - self.shift) / self.spread
                if self.cap is not None:
                    x = np.clip(x, -self.cap, self.cap)
                if self.power_lambda is not None:
                    x = yeo_johnson(x, self.power_lambda)
            out = (x - self.centre) / self.scale
        return np.where(finite & np.isfinite(out), out, 0.0).astype(np.float32)

    def to_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"centre": self.centre.tolist(), "scale": self.scale.tolist()}
        if self.shift is not None and self.spread is not None:
            state["robust"] = {
                "shift": self.shift.tolist(),
                "spread": self.spread.tolist(),
                "cap": self.cap,
                "lambda": None if self.power_lambda is None else self.power_lambda.tolist(),
            }
        return state

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> TemporalScaler:
        robust = state.get("robust")

        def vector(value: Any) -> np.ndarray | None:
            return None if value is None else np.asarray(value, dtype=np.float64)

        return cls(
            centre=np.asarray(state["centre"], dtype=np.float64),
            scale=np.asarray(state["scale"], dtype=np.float64),
            shift=None if robust is None else vector(robust["shift"]),
            spread=None if robust is None else vector(robust["spread"]),
            cap=None if robust is None or robust["cap"] is None else float(robust["cap"]),
            power_lambda=None if robust is None else vector(robust["lambda"]),
        )


def split_indices(n: int, validation_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of ``range(n)`` into (train, validation); at least two training samples."""
    from spinlock.core.training import seeded_split

    return seeded_split(n, validation_fraction, seed, min_train=2)
