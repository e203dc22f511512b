"""Feature cleaning before category discovery and the VQ-VAE: a fitted, replayable, serialisable transform.

:func:`fit_cleaner` learns, from a training matrix ``(samples, features)``, in this order:

1. **Non-finite columns.** NaN and ±inf are both *missing* (an infinity is not an extreme value one can
   centre or scale). A column with no finite value is always dropped; with ``nan_policy="drop_column"`` a
   column whose missing share exceeds ``max_nonfinite_fraction`` is dropped too.
2. **Imputation values**: the median of each column's finite values.
3. **Constant columns**: dropped when the standard deviation *and* the IQR of the finite values are at most
   ``variance_threshold`` times the column's magnitude ``max |x|`` (a relative test, so a column of values
   near 1e6 with float32 rounding noise is constant and a column of genuine variation near 1e-9 is not).
4. **Outlier caps** ``median ± outlier_k · σ̂`` with the robust standard deviation σ̂ (below).
5. **Power transform** (``power_transform="yeo-johnson"``, the default): each capped column, first put on
   a robust scale ``u = (x − median) / σ̂``, goes through the Yeo–Johnson transform ``ψ_λ(u)`` whose ``λ``
   maximises the Gaussian likelihood of the training values (``scipy.stats.yeojohnson_normmax``, clipped to
   [−2, 4]). Many features are scales or rates spanning decades (a spread across realizations follows the
   log-uniform noise scale), and after standardisation such a column is a spike with a long tail: a squared
   error, a k-means codebook and a correlation are all dominated by the few tail samples. The transform is
   monotone, so Spearman correlations (category discovery) are unchanged; ``None`` skips it.
6. **Duplicates**: Pearson correlation of the imputed, capped (and transformed) columns (what the model
   will see, up to an affine map); walking the columns in order, a column whose ``|r| ≥
   correlation_threshold`` with an earlier *kept* column is dropped as its duplicate, so of each group the
   first column survives.
7. **Normalisation** of the kept columns: ``"standard"`` centres on the mean and scales by the standard
   deviation of the training column after the steps above (training output has mean 0 and std 1 exactly);
   ``"robust"`` centres on the median and scales by the robust standard deviation.

The robust standard deviation σ̂ of a column is ``1.4826 · MAD`` (consistent with the standard deviation
for Gaussian data); where the MAD vanishes (a column that is mostly one value, such as a rare flag) it falls
back to ``IQR / 1.349`` and then to the standard deviation, so capping never collapses a sparse but
informative column and robust scaling never divides by zero. All statistics of steps 2–4 and of the robust
normalisation come from the finite observed values, not from the imputed ones (imputation at the median
would shrink the MAD).

:meth:`Cleaner.transform` replays exactly these steps with the stored values on any matrix with the
original columns, imputing new NaN/inf with the stored medians, and returns float32 ``(samples, kept)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs
import numpy as np

from spinlock.core.config.validators import one_of

__all__ = [
    "CleaningConfig",
    "CleaningReport",
    "Cleaner",
    "DroppedColumn",
    "fit_cleaner",
]

#: MAD → standard deviation for Gaussian data
MAD_TO_STD = 1.4826
#: IQR → standard deviation for Gaussian data
IQR_TO_STD = 1.349
_STATE_FORMAT = "spinlock.vqvae.cleaner/2"
#: states written before the power transform existed; they load as ``power_transform=None``
_OLD_STATE_FORMATS = ("spinlock.vqvae.cleaner/1",)
#: the Yeo–Johnson λ is clipped to this range (beyond it the transform of a capped column is extreme)
LAMBDA_RANGE = (-2.0, 4.0)
_FLOAT32_MAX = float(np.finfo(np.float32).max)

NanPolicy = Literal["median", "drop_column"]
PowerTransform = Literal["yeo-johnson"]
Normalization = Literal["standard", "robust"]
DropReason = Literal["nonfinite", "constant", "duplicate"]


def _fraction(_instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"'{attribute.name}' must be in [0, 1]: {value!r}")


def _optional_correlation(_instance: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not 0.0 < value <= 1.0:
        raise ValueError(f"'{attribute.name}' must be in (0, 1] or None (no de-duplication): {value!r}")


def _optional_positive(_instance: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"'{attribute.name}' must be > 0 or None (no capping): {value!r}")


def _relative_tolerance(_instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"'{attribute.name}' must be in [0, 1) (a tolerance relative to max |x|): {value!r}")


@attrs.frozen
class CleaningConfig:
    """How :func:`fit_cleaner` cleans a feature matrix (see the module docstring for the order of steps).

    :param nan_policy: ``"drop_column"`` drops columns whose non-finite share exceeds
        ``max_nonfinite_fraction`` and imputes the rest with the column median; ``"median"`` imputes every
        column that has at least one finite value.
    :param max_nonfinite_fraction: the largest tolerated NaN/inf share under ``"drop_column"``.
    :param variance_threshold: relative near-zero spread: a column is constant when its standard deviation
        and IQR are both ``<= variance_threshold · max|x|``. The default 1e-6 sits above float32 rounding
        (relative ulp 1.2e-7), so a constant computed in float32 is recognised, and far below any real
        variation. 0 drops exactly constant columns only.
    :param correlation_threshold: of columns with ``|Pearson r| >=`` this value, keep the first in column
        order; ``None`` keeps all.
    :param outlier_k: cap every column to ``median ± outlier_k · σ̂`` (σ̂ the robust standard deviation).
        5 robust standard deviations touch about 6e-7 of Gaussian data while taming heavy tails (an
        exploding rollout's 1e30 energy); ``None`` disables capping.
    :param power_transform: ``"yeo-johnson"`` (per-column, λ fitted by maximum likelihood) or ``None``.
        ``outlier_k`` and ``power_transform`` also apply to the TEMPORAL values
        (:class:`~spinlock.vqvae.data.TemporalScaler`, per column with all steps pooled).
    :param normalization: ``"standard"`` (mean, standard deviation) or ``"robust"`` (median, σ̂).
    """

    nan_policy: NanPolicy = attrs.field(default="drop_column", validator=one_of("median", "drop_column"))
    max_nonfinite_fraction: float = attrs.field(default=0.5, converter=float, validator=_fraction)
    variance_threshold: float = attrs.field(default=1e-6, converter=float, validator=_relative_tolerance)
    correlation_threshold: float | None = attrs.field(default=0.99, validator=_optional_correlation)
    outlier_k: float | None = attrs.field(default=5.0, validator=_optional_positive)
    power_transform: PowerTransform | None = attrs.field(
        default="yeo-johnson", validator=attrs.validators.optional(one_of("yeo-johnson"))
    )
    normalization: Normalization = attrs.field(default="standard", validator=one_of("standard", "robust"))

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-compatible dict (``CleaningConfig(**d)`` rebuilds it)."""
        return attrs.asdict(self)


@attrs.frozen
class DroppedColumn:
    """One input column that :func:`fit_cleaner` dropped.

    :param name: the column's name.
    :param index: its position among the input columns.
    :param reason: ``"nonfinite"``, ``"constant"`` or ``"duplicate"``.
    :param detail: a human-readable explanation with the numbers behind it.
    :param duplicate_of: for ``"duplicate"``, the kept column it duplicates.
    """

    name: str
    index: int
    reason: DropReason
    detail: str
    duplicate_of: str | None = None


@attrs.frozen
class CleaningReport:
    """What :func:`fit_cleaner` did, for logs and JSON reports.

    :param n_samples: training rows.
    :param n_input: input columns.
    :param dropped: the dropped columns, in input order.
    :param kept: names of the kept columns, in input order.
    :param imputed_fraction: per kept column, the share of training values that were NaN/inf.
    :param capped_fraction: per kept column, the share of finite training values moved by the outlier caps.
    """

    n_samples: int
    n_input: int
    dropped: tuple[DroppedColumn, ...]
    kept: tuple[str, ...]
    imputed_fraction: tuple[float, ...]
    capped_fraction: tuple[float, ...]

    def dropped_by_reason(self) -> dict[str, list[str]]:
        """``{"nonfinite": [...], "constant": [...], "duplicate": [...]}``: dropped column names."""
        out: dict[str, list[str]] = {"nonfinite": [], "constant": [], "duplicate": []}
        for column in self.dropped:
            out[column.reason].append(column.name)
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict; :meth:`from_dict` inverts it."""
        return {
            "n_samples": self.n_samples,
            "n_input": self.n_input,
            "n_kept": len(self.kept),
            "dropped": [attrs.asdict(c) for c in self.dropped],
            "kept": list(self.kept),
            "imputed_fraction": list(self.imputed_fraction),
            "capped_fraction": list(self.capped_fraction),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CleaningReport:
        """Rebuild a report from :meth:`to_dict` output."""
        return cls(
            n_samples=int(data["n_samples"]),
            n_input=int(data["n_input"]),
            dropped=tuple(DroppedColumn(**c) for c in data["dropped"]),
            kept=tuple(data["kept"]),
            imputed_fraction=tuple(float(f) for f in data["imputed_fraction"]),
            capped_fraction=tuple(float(f) for f in data["capped_fraction"]),
        )


def yeo_johnson(u: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """The Yeo–Johnson transform ``ψ_λ(u)`` of ``u`` ``(samples, columns)`` with one ``λ`` per column.

    ``((u + 1)^λ − 1) / λ`` for ``u ≥ 0`` (``log1p(u)`` at λ = 0) and ``−((1 − u)^(2−λ) − 1) / (2 − λ)`` for
    ``u < 0`` (``−log1p(−u)`` at λ = 2): monotone, continuous, the identity at λ = 1.
    """
    u = np.asarray(u, dtype=np.float64)
    lam = np.broadcast_to(np.asarray(lam, dtype=np.float64), u.shape[-1:])
    pos, neg = np.maximum(u, 0.0), np.minimum(u, 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        up = np.where(lam == 0.0, np.log1p(pos), np.expm1(lam * np.log1p(pos)) / np.where(lam == 0, 1, lam))
        mu = 2.0 - lam
        down = np.where(mu == 0.0, -np.log1p(-neg), -np.expm1(mu * np.log1p(-neg)) / np.where(mu == 0, 1, mu))
    return np.where(u >= 0, up, down)


def yeo_johnson_inverse(v: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """The inverse of :func:`yeo_johnson` (values outside the transform's range map to ±inf)."""
    v = np.asarray(v, dtype=np.float64)
    lam = np.broadcast_to(np.asarray(lam, dtype=np.float64), v.shape[-1:])
    pos, neg = np.maximum(v, 0.0), np.minimum(v, 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        up = np.where(lam == 0.0, np.expm1(pos), np.expm1(np.log1p(lam * pos) / np.where(lam == 0, 1, lam)))
        mu = 2.0 - lam
        down = np.where(mu == 0.0, -np.expm1(-neg), -np.expm1(np.log1p(-mu * neg) / np.where(mu == 0, 1, mu)))
    out = np.where(v >= 0, up, down)
    return np.where(np.isnan(out), np.where(v >= 0, np.inf, -np.inf), out)


def fit_lambdas(u: np.ndarray) -> np.ndarray:
    """Maximum-likelihood Yeo–Johnson λ of each column of ``u`` ``(samples, columns)``, clipped to
    :data:`LAMBDA_RANGE`."""
    from scipy.stats import yeojohnson_normmax

    lambdas = np.empty(u.shape[1])
    with np.errstate(all="ignore"):
        for j in range(u.shape[1]):
            try:
                lambdas[j] = float(yeojohnson_normmax(u[:, j]))
            except (ValueError, FloatingPointError, RuntimeError):
                lambdas[j] = 1.0  # the optimiser failed (e.g. a two-valued column): leave it as it is
    lambdas = np.where(np.isfinite(lambdas), lambdas, 1.0)
    return np.clip(lambdas, *LAMBDA_RANGE)


def _vector(value: Any, length: int, what: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.shape != (length,):
        raise ValueError(f"cleaner state: {what!r} must have shape ({length},), got {array.shape}")
    return array


@attrs.frozen(eq=False)
class Cleaner:
    """A fitted cleaning transform; build it with :func:`fit_cleaner` or :meth:`from_state`.

    All vectors have one entry per *kept* column, in input order.

    :param config: the config it was fitted with.
    :param names: names of all input columns (``D_in``).
    :param kept_index: positions of the kept columns among the input columns, increasing.
    :param fill: imputation value (training median) per kept column.
    :param lower: lower cap per kept column (``-inf`` without capping).
    :param upper: upper cap per kept column (``+inf`` without capping).
    :param centre: subtracted after capping (and the power transform).
    :param scale: divides after centring (always > 0).
    :param report: what was dropped and why.
    :param power_lambda: Yeo–Johnson λ per kept column, or ``None`` without the power transform.
    :param power_shift: with ``power_lambda``, the column medians subtracted before it.
    :param power_scale: with ``power_lambda``, the robust standard deviations dividing before it.
    """

    config: CleaningConfig
    names: tuple[str, ...]
    kept_index: np.ndarray
    fill: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    centre: np.ndarray
    scale: np.ndarray
    report: CleaningReport
    power_lambda: np.ndarray | None = None
    power_shift: np.ndarray | None = None
    power_scale: np.ndarray | None = None

    def __attrs_post_init__(self) -> None:
        d_in, d_kept = len(self.names), len(self.kept_index)
        if d_kept == 0:
            raise ValueError("a cleaner must keep at least one column")
        index = self.kept_index
        if index.ndim != 1 or np.any(np.diff(index) <= 0) or index[0] < 0 or index[-1] >= d_in:
            raise ValueError(f"kept_index must be increasing positions in [0, {d_in}), got {index.tolist()}")
        if not np.all(self.scale > 0) or not np.all(np.isfinite(self.scale)):
            raise ValueError("every scale must be finite and > 0")
        for what in ("fill", "centre"):
            if not np.all(np.isfinite(getattr(self, what))):
                raise ValueError(f"every {what} value must be finite")
        power = [part for part in (self.power_lambda, self.power_shift, self.power_scale) if part is not None]
        if power:
            if len(power) < 3 or any(np.shape(part) != (d_kept,) for part in power):
                raise ValueError(f"power_lambda, power_shift and power_scale must all have shape ({d_kept},)")
            if not all(np.all(np.isfinite(part)) for part in power) or not np.all(power[2] > 0):
                raise ValueError("the power transform's values must be finite, with scales > 0")

    @property
    def kept_names(self) -> tuple[str, ...]:
        """Names of the kept columns, in input order (the columns of :meth:`transform`'s output)."""
        return tuple(self.names[i] for i in self.kept_index)

    @property
    def n_features_in(self) -> int:
        """Number of input columns ``D_in``."""
        return len(self.names)

    @property
    def n_features_out(self) -> int:
        """Number of kept columns ``D_kept``."""
        return len(self.kept_index)

    def transform(self, X: Any) -> np.ndarray:
        """Clean ``X`` ``(samples, D_in)`` into float32 ``(samples, D_kept)``, replaying the fitted steps.

        NaN/inf in kept columns are imputed with the stored medians, so the output is always finite.
        """
        X = _as_matrix(X, "X")
        if X.shape[1] != self.n_features_in:
            raise ValueError(
                f"X has {X.shape[1]} columns but the cleaner was fitted on {self.n_features_in} "
                f"(columns {list(self.names[:3])}...)"
            )
        kept = X[:, self.kept_index]
        kept = np.where(np.isfinite(kept), kept, self.fill)
        kept = self._power(np.clip(kept, self.lower, self.upper))
        Z = (kept - self.centre) / self.scale
        # Without capping a finite float64 can still overflow float32.
        return np.clip(Z, -_FLOAT32_MAX, _FLOAT32_MAX).astype(np.float32)

    def inverse_transform(self, Z: Any) -> np.ndarray:
        """Map cleaned values ``(samples, D_kept)`` back to original units, float64 ``(samples, D_kept)``.

        Undoes the normalisation and the power transform: capped values stay capped and dropped columns stay
        dropped.
        """
        Z = _as_matrix(Z, "Z")
        if Z.shape[1] != self.n_features_out:
            raise ValueError(f"Z has {Z.shape[1]} columns but the cleaner keeps {self.n_features_out}")
        values = Z * self.scale + self.centre
        if self.power_lambda is None:
            return values
        return yeo_johnson_inverse(values, self.power_lambda) * self.power_scale + self.power_shift

    def _power(self, capped: np.ndarray) -> np.ndarray:
        if self.power_lambda is None:
            return capped
        return yeo_johnson((capped - self.power_shift) / self.power_scale, self.power_lambda)

    def to_state(self) -> dict[str, Any]:
        """A dict of plain Python values (str, int, float, None, lists, dicts); :meth:`from_state` inverts it.

        The state is JSON-serialisable and loads with ``torch.load(..., weights_only=True)``; float64 values
        survive both exactly. Caps are ``None`` when capping is disabled (JSON has no infinity).
        """
        capped = self.config.outlier_k is not None
        return {
            "format": _STATE_FORMAT,
            "config": self.config.to_dict(),
            "names": list(self.names),
            "kept_index": [int(i) for i in self.kept_index],
            "fill": self.fill.tolist(),
            "lower": self.lower.tolist() if capped else None,
            "upper": self.upper.tolist() if capped else None,
            "centre": self.centre.tolist(),
            "scale": self.scale.tolist(),
            "report": self.report.to_dict(),
            "power": None
            if self.power_lambda is None
            else {
                "lambda": self.power_lambda.tolist(),
                "shift": self.power_shift.tolist(),  # type: ignore[union-attr]
                "scale": self.power_scale.tolist(),  # type: ignore[union-attr]
            },
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Cleaner:
        """Rebuild a cleaner from :meth:`to_state` output (numpy arrays or CPU tensors also accepted)."""
        if state.get("format") not in (_STATE_FORMAT, *_OLD_STATE_FORMATS):
            raise ValueError(
                f"not a cleaner state: format {state.get('format')!r}, expected {_STATE_FORMAT!r}"
            )
        missing = {"config", "names", "kept_index", "fill", "centre", "scale", "report"} - set(state)
        if missing:
            raise ValueError(f"cleaner state is missing {sorted(missing)}")
        config_data = dict(state["config"])
        if state["format"] in _OLD_STATE_FORMATS:
            config_data.setdefault("power_transform", None)
        config = CleaningConfig(**config_data)
        kept_index = np.asarray(state["kept_index"], dtype=np.int64).reshape(-1)
        n = len(kept_index)
        if config.outlier_k is None:
            lower, upper = np.full(n, -np.inf), np.full(n, np.inf)
        else:
            lower, upper = _vector(state["lower"], n, "lower"), _vector(state["upper"], n, "upper")
        return cls(
            config=config,
            names=tuple(str(name) for name in state["names"]),
            kept_index=kept_index,
            fill=_vector(state["fill"], n, "fill"),
            lower=lower,
            upper=upper,
            centre=_vector(state["centre"], n, "centre"),
            scale=_vector(state["scale"], n, "scale"),
            report=CleaningReport.from_dict(state["report"]),
            **_power_state(state.get("power"), n),
        )


def _power_state(power: Any, n: int) -> dict[str, np.ndarray | None]:
    if power is None:
        return {"power_lambda": None, "power_shift": None, "power_scale": None}
    return {
        "power_lambda": _vector(power["lambda"], n, "power.lambda"),
        "power_shift": _vector(power["shift"], n, "power.shift"),
        "power_scale": _vector(power["scale"], n, "power.scale"),
    }


def _as_matrix(X: Any, what: str) -> np.ndarray:
    try:
        array = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be a numeric (samples, features) array: {exc}") from None
    if array.ndim != 2:
        raise ValueError(f"{what} must be 2-D (samples, features), got shape {array.shape}")
    return array


def check_names(names: Sequence[str], n_columns: int) -> tuple[str, ...]:
    """Validate column names: ``n_columns`` distinct strings. Returns them as a tuple."""
    if isinstance(names, str):
        raise ValueError("names must be a sequence of column names, not a single string")
    out = tuple(names)
    if len(out) != n_columns:
        raise ValueError(f"got {len(out)} names for {n_columns} columns")
    if not all(isinstance(name, str) for name in out):
        raise ValueError("every column name must be a str")
    if len(set(out)) != len(out):
        duplicates = sorted({name for name in out if out.count(name) > 1})
        raise ValueError(f"duplicate column names: {duplicates}")
    return out


def robust_std(
    mad: np.ndarray, iqr: np.ndarray, std: np.ndarray, magnitude: np.ndarray, tolerance: float
) -> np.ndarray:
    """1.4826·MAD, else IQR/1.349, else the standard deviation, whichever first exceeds the tolerance."""
    floor = tolerance * magnitude
    return np.where(
        mad * MAD_TO_STD > floor, mad * MAD_TO_STD, np.where(iqr / IQR_TO_STD > floor, iqr / IQR_TO_STD, std)
    )


def fit_cleaner(X: Any, names: Sequence[str], config: CleaningConfig | None = None) -> Cleaner:
    """Fit the cleaning transform on a training matrix.

    :param X: ``(samples, features)`` numeric array; NaN and ±inf are treated as missing.
    :param names: one distinct name per column.
    :param config: cleaning settings (defaults when ``None``).
    :returns: the fitted :class:`Cleaner`; ``cleaner.transform(X)`` gives the cleaned training matrix.
    :raises ValueError: for a non-2-D ``X``, fewer than 2 samples, mismatched or duplicate names, or when
        every column is dropped.
    """
    config = config or CleaningConfig()
    X = _as_matrix(X, "X")
    n, d = X.shape
    if n < 2:
        raise ValueError(f"need at least 2 samples to fit a cleaner, got {n}")
    if d < 1:
        raise ValueError("X has no columns")
    names = check_names(names, d)
    tolerance = config.variance_threshold

    finite = np.isfinite(X)
    missing_share = 1.0 - finite.mean(axis=0)
    dropped: dict[int, DroppedColumn] = {}

    for j in range(d):
        share = float(missing_share[j])
        too_many = config.nan_policy == "drop_column" and share > config.max_nonfinite_fraction
        if share == 1.0 or too_many:
            limit = (
                "no finite value"
                if share == 1.0
                else f"above max_nonfinite_fraction={config.max_nonfinite_fraction:g}"
            )
            dropped[j] = DroppedColumn(
                names[j], j, "nonfinite", f"{share:.1%} of values are NaN/inf ({limit})"
            )
    alive = np.array([j for j in range(d) if j not in dropped], dtype=np.int64)
    if len(alive) == 0:
        raise ValueError(f"all {d} columns were dropped as non-finite; nothing left to clean")

    # Statistics of the finite observed values (nan-aware; every alive column has at least one).
    obs = np.where(finite[:, alive], X[:, alive], np.nan)
    median = np.nanmedian(obs, axis=0)
    q25, q75 = np.nanquantile(obs, [0.25, 0.75], axis=0)
    iqr = q75 - q25
    mad = np.nanmedian(np.abs(obs - median), axis=0)
    std = np.nanstd(obs, axis=0)
    magnitude = np.nanmax(np.abs(obs), axis=0)

    constant = (std <= tolerance * magnitude) & (iqr <= tolerance * magnitude)
    for position in np.flatnonzero(constant):
        j = int(alive[position])
        dropped[j] = DroppedColumn(
            names[j],
            j,
            "constant",
            f"std {std[position]:.3g} and IQR {iqr[position]:.3g} <= {tolerance:g} · max|x| "
            f"({magnitude[position]:.3g})",
        )
    keep = ~constant
    alive, median, iqr, mad, std, magnitude = (a[keep] for a in (alive, median, iqr, mad, std, magnitude))
    if len(alive) == 0:
        raise ValueError(f"all {d} columns were dropped (non-finite or constant); nothing left to clean")

    sigma = robust_std(mad, iqr, std, magnitude, tolerance)
    if config.outlier_k is None:
        lower, upper = np.full(len(alive), -np.inf), np.full(len(alive), np.inf)
    else:
        lower, upper = median - config.outlier_k * sigma, median + config.outlier_k * sigma

    values = np.clip(np.where(finite[:, alive], X[:, alive], median), lower, upper)
    lambdas: np.ndarray | None = None
    if config.power_transform == "yeo-johnson":
        u = (values - median) / sigma
        lambdas = fit_lambdas(u)
        values = yeo_johnson(u, lambdas)
    mean = values.mean(axis=0)
    spread = values.std(axis=0)

    if config.correlation_threshold is not None:
        standardised = (values - mean) / np.where(spread > 0, spread, 1.0)
        correlation = np.abs(standardised.T @ standardised) / n
        duplicate = np.zeros(len(alive), dtype=bool)
        for a in range(len(alive)):
            if duplicate[a]:
                continue
            later = np.flatnonzero(
                (correlation[a] >= config.correlation_threshold) & (np.arange(len(alive)) > a) & ~duplicate
            )
            for b in later:
                duplicate[b] = True
                j, original = int(alive[b]), names[int(alive[a])]
                dropped[j] = DroppedColumn(
                    names[j],
                    j,
                    "duplicate",
                    f"|r| = {min(correlation[a, b], 1.0):.4f} >= {config.correlation_threshold:g} "
                    f"with kept column {original!r}",
                    duplicate_of=original,
                )
        keep = ~duplicate
        alive, median, sigma, lower, upper, mean, spread = (
            a[keep] for a in (alive, median, sigma, lower, upper, mean, spread)
        )
        values = values[:, keep]
        lambdas = None if lambdas is None else lambdas[keep]

    if config.normalization == "standard":
        centre, scale = mean, spread
    elif lambdas is None:
        centre, scale = median, sigma
    else:  # the robust statistics of the transformed values
        centre = np.median(values, axis=0)
        scale = robust_std(
            np.median(np.abs(values - centre), axis=0),
            np.subtract(*np.quantile(values, [0.75, 0.25], axis=0)),
            values.std(axis=0),
            np.abs(values).max(axis=0),
            tolerance,
        )
    # Unreachable for columns that passed the constant test, kept as a guard against division by zero.
    scale = np.where(scale > 0, scale, 1.0)

    finite_alive = finite[:, alive]
    raw = X[:, alive]
    capped = finite_alive & ((raw < lower) | (raw > upper))
    report = CleaningReport(
        n_samples=n,
        n_input=d,
        dropped=tuple(dropped[j] for j in sorted(dropped)),
        kept=tuple(names[j] for j in alive),
        imputed_fraction=tuple(float(f) for f in 1.0 - finite_alive.mean(axis=0)),
        capped_fraction=tuple(
            float(c) / max(int(f), 1)
            for c, f in zip(capped.sum(axis=0), finite_alive.sum(axis=0), strict=True)
        ),
    )
    return Cleaner(
        config=config,
        names=names,
        kept_index=alive,
        fill=median,
        lower=lower,
        upper=upper,
        centre=centre,
        scale=scale,
        report=report,
        power_lambda=lambdas,
        power_shift=None if lambdas is None else median,
        power_scale=None if lambdas is None else sigma,
    )
