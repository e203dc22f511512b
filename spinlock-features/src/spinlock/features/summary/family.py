"""The SUMMARY feature family: per-trajectory statistics aggregated over realizations, ``(N, D)``.

Input: ``inputs.trajectory`` ``(batch, realizations, time, channels, height, width)`` with T ≥ 3 stored
frames. Every statistic is computed per (sample, realization, channel) trajectory from the per-frame
statistics of :mod:`spinlock.features.frames` (shared with TEMPORAL) or from the final frame, then aggregated
over the M realizations. Units: unit domain, wavenumbers in cycles per domain, rates per state step (the
stored-frame spacing ``inputs.time_stride`` is divided out). "Averaged" means over the stored frames.

Categories and statistics (per channel ``_c{k}`` unless noted; see ``docs/features.md`` for the formulas):

- **spatial**: ``log_std``, ``skewness``, ``kurtosis`` (excess), ``range_over_std``,
  ``gradient_anisotropy`` (share of |∇u|² along x), ``curvature_wavenumber`` √(⟨(∇²u)²⟩ / ⟨|∇u|²⟩);
- **spectral**: ``band_fraction_{i}``, ``spectral_centroid``, ``spectral_bandwidth``, ``spectral_slope``,
  ``spectral_entropy``;
- **temporal** (dynamics of the variance v(t) and mean of the field): ``variance_growth_rate`` (slope of
  log v), ``variance_log_change`` (log v(T) − log v(0)), ``variance_trend_strength`` (R² of a linear trend of
  log v), ``mean_drift_rate`` (slope of the mean / rms), ``persistence`` (correlation of consecutive
  frames), ``oscillation_index``;
- **cross_channel** (C ≥ 2): ``channel_corr_c{i}_c{j}`` (averaged), ``channel_abs_corr_final``,
  ``channel_participation_ratio``;
- **causality**: ``time_irreversibility`` (skewness of Δ log v), ``flow_x``, ``flow_y`` (optical-flow
  velocity, domain lengths per step), ``flow_coherence`` (|mean velocity| / mean speed), and for C ≥ 2
  ``lag_asymmetry_c{i}_c{j}`` = corr(u_i(t+1), u_j(t)) − corr(u_j(t+1), u_i(t)), positive when channel j
  leads channel i;
- **invariant_drift**: for the norms ``l1``, ``l2``, ``linf`` and ``tv`` (mean |∇u|): ``<norm>_log_ratio``
  (log final / initial) and ``<norm>_variability`` (std over time of the log norm);
- **distributional** (final frame): ``quantile_skew_final`` (Bowley), ``tail_weight_final``
  ((q95 − q5) / IQR), ``effective_rank_final`` (exp entropy of the squared singular values of the
  mean-removed field), ``leading_mode_fraction_final``;
- **structural**: ``neighbour_corr`` (lag-one autocorrelation), ``corr_anisotropy`` (x minus y),
  ``corr_eighth`` (autocorrelation at an eighth of the domain), ``edge_density_final`` (soft share of
  pixels with |∇u|² above twice its mean);
- **physics**: ``integral_length`` (Σ P/|k| / Σ P), ``taylor_microscale`` √(v / ⟨|∇u|²⟩),
  ``cascade_rate`` (slope of log spectral centroid), ``fluctuation_fraction`` (v / ⟨u²⟩);
- **morphological** (final frame, soft mask above the mean): ``area_fraction_final``,
  ``interface_density_final`` (perimeter per unit area), ``compactness_final`` (4π·area / perimeter² of
  the minority phase; 1 for one disk);
- **multiscale** (final frame): ``coarse_variance_s{s}_final``, the share of variance kept by s × s block
  averages, for s = 2, 4, 8 up to half the grid;
- **operator_sensitivity**: ``step_gain`` (mean growth of log rms per step), ``step_gain_std``,
  ``gain_amplitude_slope`` (slope of the step gain against log amplitude: < 0 saturating, 0 linear), and for
  M ≥ 2 the ensemble columns ``ensemble_spread_final`` (log of the between-realization variance over the
  field variance at the last frame) and ``ensemble_spread_growth`` (its mean growth rate per step from the
  second stored frame, the first after the shared u0, to the last),
  which describe how the operator amplifies its noise and are not aggregated over realizations.

Columns: for each aggregation (block-major), each enabled category, each statistic: ``<stat>_c{k}_<agg>``,
``<stat>_c{i}_c{j}_<agg>`` or ``<stat>_<agg>``; then the ensemble columns ``<stat>_c{k}``. They depend on
the config and on (M, C, H, W) only. No value depends on other samples of the batch (BUG-13).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from functools import partial

import torch
import torch.nn.functional as F

from spinlock.core.features.family import FeatureColumns, FeatureInputs
from spinlock.features.frames import (
    FrameStatistics,
    check_trajectory,
    gradient_field,
    shared_frame_statistics,
)
from spinlock.features.quantiles import quantiles
from spinlock.features.summary import series
from spinlock.features.summary.config import SummaryConfig
from spinlock.features.summary.registration import SUMMARY_VERSION
from spinlock.features.temporal.stats import correlation_from_covariance, correlation_stats, guard

NORMS: tuple[str, ...] = ("l1", "l2", "linf", "tv")
#: per-channel statistics of each category (band fractions and multiscale scales are added per config/grid)
CHANNEL_STATS: dict[str, tuple[str, ...]] = {
    "spatial": (
        "log_std",
        "skewness",
        "kurtosis",
        "range_over_std",
        "gradient_anisotropy",
        "curvature_wavenumber",
    ),
    "spectral": ("spectral_centroid", "spectral_bandwidth", "spectral_slope", "spectral_entropy"),
    "temporal": (
        "variance_growth_rate",
        "variance_log_change",
        "variance_trend_strength",
        "mean_drift_rate",
        "persistence",
        "oscillation_index",
    ),
    "cross_channel": (),
    "causality": ("time_irreversibility", "flow_x", "flow_y", "flow_coherence"),
    "invariant_drift": tuple(f"{n}_{m}" for n in NORMS for m in ("log_ratio", "variability")),
    "distributional": (
        "quantile_skew_final",
        "tail_weight_final",
        "effective_rank_final",
        "leading_mode_fraction_final",
    ),
    "structural": ("neighbour_corr", "corr_anisotropy", "corr_eighth", "edge_density_final"),
    "physics": ("integral_length", "taylor_microscale", "cascade_rate", "fluctuation_fraction"),
    "morphological": ("area_fraction_final", "interface_density_final", "compactness_final"),
    "multiscale": (),
    "operator_sensitivity": ("step_gain", "step_gain_std", "gain_amplitude_slope"),
}
#: per channel-pair statistics (C ≥ 2)
PAIR_STATS: dict[str, tuple[str, ...]] = {"cross_channel": ("channel_corr",), "causality": ("lag_asymmetry",)}
#: per-realization scalars (C ≥ 2)
SCALAR_STATS: dict[str, tuple[str, ...]] = {
    "cross_channel": ("channel_abs_corr_final", "channel_participation_ratio")
}
#: per-channel ensemble statistics over realizations (M ≥ 2), not aggregated
ENSEMBLE_STATS: tuple[str, ...] = ("ensemble_spread_final", "ensemble_spread_growth")
MULTISCALE_FACTORS: tuple[int, ...] = (2, 4, 8)


def multiscale_factors(H: int, W: int) -> tuple[int, ...]:
    """Block sizes of the multiscale columns on an ``H × W`` grid (those up to half the grid)."""
    return tuple(s for s in MULTISCALE_FACTORS if s <= min(H, W) // 2)


class SummaryFamily:
    """Per-trajectory statistics of ``inputs.trajectory`` ``(B, M, T, C, H, W)`` → ``(B, D)``.

    Float64 trajectories give float64 values (so gradients can be checked); anything else gives float32.
    """

    name = "summary"
    version = SUMMARY_VERSION
    inputs = frozenset({"trajectory"})

    def __init__(self, config: SummaryConfig | None = None) -> None:
        self.config = config if config is not None else SummaryConfig()

    # -------------------------------------------------------------------------------------------- columns
    def _channel_stats(self, category: str, H: int, W: int) -> tuple[str, ...]:
        if category == "spectral":
            bands = tuple(f"band_fraction_{i}" for i in range(self.config.n_bands))
            return bands + CHANNEL_STATS["spectral"]
        if category == "multiscale":
            return tuple(f"coarse_variance_s{s}_final" for s in multiscale_factors(H, W))
        return CHANNEL_STATS[category]

    def _layout(self, M: int, C: int, H: int, W: int) -> Iterator[tuple[str, str, str]]:
        """(category, kind, stat) of the per-realization statistics, in column order."""
        for cat in self.config.categories:
            for stat in self._channel_stats(cat, H, W):
                yield cat, "channel", stat
            if C >= 2:
                for stat in PAIR_STATS.get(cat, ()):
                    yield cat, "pair", stat
                for stat in SCALAR_STATS.get(cat, ()):
                    yield cat, "scalar", stat

    def aggregations(self, M: int) -> tuple[str, ...]:
        """The aggregations over realizations that are emitted for M realizations."""
        return self.config.aggregations if M >= 2 else ("mean",)

    def columns_for_shape(self, M: int, C: int, H: int, W: int) -> FeatureColumns:
        """The columns for M realizations of C-channel ``H × W`` fields."""
        pairs = [(i, j) for i in range(C) for j in range(i + 1, C)]
        base: list[tuple[str, str]] = []  # (name without aggregation, category)
        for cat, kind, stat in self._layout(M, C, H, W):
            if kind == "channel":
                base += [(f"{stat}_c{k}", cat) for k in range(C)]
            elif kind == "pair":
                base += [(f"{stat}_c{i}_c{j}", cat) for i, j in pairs]
            else:
                base.append((stat, cat))
        names = [f"{n}_{agg}" for agg in self.aggregations(M) for n, _ in base]
        cats = [c for _ in self.aggregations(M) for _, c in base]
        if M >= 2 and "operator_sensitivity" in self.config.categories:
            for stat in ENSEMBLE_STATS:
                names += [f"{stat}_c{k}" for k in range(C)]
                cats += ["operator_sensitivity"] * C
        return FeatureColumns(names=names, categories=cats)

    def columns(self, inputs: FeatureInputs) -> FeatureColumns:
        traj = _check(inputs.trajectory)
        _, M, _, C, H, W = traj.shape
        return self.columns_for_shape(M, C, H, W)

    # -------------------------------------------------------------------------------------------- compute
    def compute(self, inputs: FeatureInputs) -> torch.Tensor:
        traj = _check(inputs.trajectory)
        B, M, _, C, H, W = traj.shape
        dtype = torch.float64 if traj.dtype == torch.float64 else torch.float32
        if B == 0:
            return traj.new_zeros((0, len(self.columns_for_shape(M, C, H, W))), dtype=dtype)
        x = traj.to(dtype)
        cfg = self.config
        frames = shared_frame_statistics(inputs, x, cfg.n_bands, cfg.dominant_sharpness)
        stats = _Statistics(x, frames, max(1, int(inputs.time_stride)), cfg)
        per_realization: list[torch.Tensor] = []  # each (B, M, n)
        for _cat, kind, stat in self._layout(M, C, H, W):
            value = stats.get(stat)
            per_realization.append(value if kind != "scalar" else value[..., None])
        values = torch.cat(per_realization, dim=-1)
        blocks = [_aggregate(values, agg) for agg in self.aggregations(M)]
        if M >= 2 and "operator_sensitivity" in cfg.categories:
            blocks += [stats.ensemble(stat) for stat in ENSEMBLE_STATS]
        return torch.cat(blocks, dim=-1)


def _aggregate(values: torch.Tensor, how: str) -> torch.Tensor:
    """Aggregate ``(B, M, D)`` over realizations → ``(B, D)``."""
    if how == "mean":
        return values.mean(dim=1)
    if how == "min":
        return values.amin(dim=1)
    if how == "max":
        return values.amax(dim=1)
    std = series.population_std(values, dim=1)
    if how == "std":
        return std
    return std / (values.mean(dim=1).abs() + std)  # cv, bounded: c / (1 + c) of the classical std/|mean|


class _Statistics:
    """Lazily computed statistics of one batch: ``get(stat)`` → ``(B, M, C)`` (channel), ``(B, M, P)``
    (pair) or ``(B, M)`` (scalar); ``ensemble(stat)`` → ``(B, C)``."""

    def __init__(self, x: torch.Tensor, frames: FrameStatistics, stride: int, config: SummaryConfig) -> None:
        self.x = x
        self.f = frames
        self.stride = float(stride)
        self.config = config
        self.H, self.W = x.shape[-2:]
        v, ms = frames["variance"], frames["mean_square"]
        self.g = guard(ms)
        self.log_v = torch.log(v + self.g)
        self._cache: dict[str, torch.Tensor] = {}
        self._correlations: dict[str, torch.Tensor] | None = None

    def get(self, stat: str) -> torch.Tensor:
        if stat.startswith("band_fraction_"):
            return self.f.band_fraction[..., int(stat.rsplit("_", 1)[1])].mean(dim=2)
        if stat.startswith("coarse_variance_s"):
            return self._coarse_variance(int(stat.removeprefix("coarse_variance_s").split("_")[0]))
        if stat in self._cache:
            return self._cache[stat]
        value = self._compute(stat)
        self._cache[stat] = value
        return value

    def _time(self, series_btc: torch.Tensor) -> torch.Tensor:
        """``(B, M, T, C)`` → ``(B, M, C, T)``."""
        return series_btc.transpose(2, 3)

    def _compute(self, stat: str) -> torch.Tensor:
        f, g = self.f, self.g
        handlers: dict[str, Callable[[], torch.Tensor | dict[str, torch.Tensor]]] = {
            # spatial
            "log_std": lambda: 0.5 * self.log_v.mean(dim=2),
            "skewness": lambda: f["skewness"].mean(dim=2),
            "kurtosis": lambda: f["kurtosis"].mean(dim=2),
            "range_over_std": lambda: ((f["maximum"] - f["minimum"]) / f["std"]).mean(dim=2),
            "gradient_anisotropy": lambda: f["gradient_anisotropy"].mean(dim=2),
            "curvature_wavenumber": lambda: torch.sqrt(
                f["laplacian_energy"] / (f["gradient_energy"] + self._grad_guard()) + series.TINY
            ).mean(dim=2),
            # spectral
            "spectral_centroid": lambda: f["spectral_centroid"].mean(dim=2),
            "spectral_bandwidth": lambda: f["spectral_bandwidth"].mean(dim=2),
            "spectral_slope": lambda: f["spectral_slope"].mean(dim=2),
            "spectral_entropy": lambda: f["spectral_entropy"].mean(dim=2),
            # temporal
            "variance_growth_rate": lambda: series.slope(self._time(self.log_v)) / self.stride,
            "variance_log_change": lambda: self.log_v[:, :, -1] - self.log_v[:, :, 0],
            "variance_trend_strength": lambda: series.trend_strength(self._time(self.log_v)),
            "mean_drift_rate": self._mean_drift_rate,
            "persistence": self._persistence,
            "oscillation_index": lambda: series.oscillation_index(self._time(self.log_v)),
            # causality
            "time_irreversibility": lambda: series.irreversibility(self._time(self.log_v)),
            "flow_x": lambda: f.flow_x.mean(dim=2) / self.stride,
            "flow_y": lambda: f.flow_y.mean(dim=2) / self.stride,
            "flow_coherence": self._flow_coherence,
            "lag_asymmetry": self._lag_asymmetry,
            # cross-channel
            "channel_corr": lambda: self._correlation()["pairs"].mean(dim=2),
            "channel_abs_corr_final": lambda: self._correlation()["abs_corr_mean"][:, :, -1],
            "channel_participation_ratio": lambda: self._correlation()["participation_ratio"].mean(dim=2),
            # structural
            "neighbour_corr": lambda: (0.5 * (f["corr_lag1_x"] + f["corr_lag1_y"])).mean(dim=2),
            "corr_anisotropy": lambda: (f["corr_lag1_x"] - f["corr_lag1_y"]).mean(dim=2),
            "corr_eighth": lambda: f["corr_eighth"].mean(dim=2),
            "edge_density_final": self._edge_density,
            # physics
            "integral_length": lambda: f["integral_length"].mean(dim=2),
            "taylor_microscale": lambda: torch.sqrt(
                f["variance"] / (f["gradient_energy"] + self._grad_guard()) + series.TINY
            ).mean(dim=2),
            "cascade_rate": lambda: (
                series.slope(self._time(torch.log(f["spectral_centroid"] + 1e-3))) / self.stride
            ),
            "fluctuation_fraction": lambda: (f["variance"] / (f["mean_square"] + g)).mean(dim=2),
            # operator sensitivity
            "step_gain": lambda: self._gain().mean(dim=-1),
            "step_gain_std": lambda: series.population_std(self._gain()),
            "gain_amplitude_slope": self._gain_amplitude_slope,
        }
        for norm in NORMS:
            handlers[f"{norm}_log_ratio"] = partial(self._norm_drift, norm, "log_ratio")
            handlers[f"{norm}_variability"] = partial(self._norm_drift, norm, "variability")
        # statistics computed together: each helper fills the cache with all of its names
        for helper, names in (
            (self._quantile_stats, ("quantile_skew_final", "tail_weight_final")),
            (self._singular_stats, ("effective_rank_final", "leading_mode_fraction_final")),
            (self._morphology, ("area_fraction_final", "interface_density_final", "compactness_final")),
        ):
            handlers.update(dict.fromkeys(names, helper))
        if stat not in handlers:
            raise KeyError(f"unknown SUMMARY statistic {stat!r}")
        value = handlers[stat]()
        return value[stat] if isinstance(value, dict) else value

    # ------------------------------------------------------------------------------------------- helpers
    def _memo(self, key: str, make: Callable[[], torch.Tensor]) -> torch.Tensor:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def _grad_guard(self) -> torch.Tensor:
        return self.g * float(self.H * self.W)

    def _final(self) -> torch.Tensor:
        """The last stored frame ``(B, M, C, H, W)``."""
        return self.x[:, :, -1]

    def _final_scale_guard(self) -> torch.Tensor:
        """``(B, M, C)``: a length much smaller than the final field's own rms (never zero)."""
        return torch.sqrt(self.g[:, :, -1])

    def _mean_drift_rate(self) -> torch.Tensor:
        f = self.f
        rms = torch.sqrt(f["mean_square"].mean(dim=2) + self.g.mean(dim=2))
        return series.slope(self._time(f["mean"])) / self.stride / rms

    def _persistence(self) -> torch.Tensor:
        own = torch.diagonal(self.f.lag_channel_cov, dim1=-2, dim2=-1)  # (B, M, T-1, C)
        v = self.f["variance"] + self.g
        return (own / torch.sqrt(v[:, :, 1:] * v[:, :, :-1])).mean(dim=2)

    def _flow_coherence(self) -> torch.Tensor:
        vx, vy = self.f.flow_x, self.f.flow_y
        speed = torch.sqrt(vx * vx + vy * vy + series.TINY)
        mean_speed = torch.sqrt(vx.mean(dim=2) ** 2 + vy.mean(dim=2) ** 2 + series.TINY)
        return mean_speed / speed.mean(dim=2)

    def _correlation(self) -> dict[str, torch.Tensor]:
        if self._correlations is None:
            corr = correlation_from_covariance(self.f.channel_cov, self.f["mean"])
            self._correlations = correlation_stats(corr)
        return self._correlations

    def _lag_asymmetry(self) -> torch.Tensor:
        lag = self.f.lag_channel_cov  # (B, M, T-1, C, C): ⟨u_i(t+1), u_j(t)⟩
        v = self.f["variance"] + self.g
        norm = torch.sqrt(v[:, :, 1:, :, None] * v[:, :, :-1, None, :])
        rho = lag / norm  # corr(u_i(t+1), u_j(t))
        C = rho.shape[-1]
        iu = torch.triu_indices(C, C, offset=1, device=rho.device)
        asym = rho[..., iu[0], iu[1]] - rho[..., iu[1], iu[0]]
        return asym.mean(dim=2)

    def _log_norm(self, norm: str) -> torch.Tensor:
        """``(B, M, C, T)`` log of the norm of every frame."""

        def make() -> torch.Tensor:
            f = self.f
            if norm == "l1":
                n = f["abs_mean"]
            elif norm == "l2":
                n = torch.sqrt(f["mean_square"])
            elif norm == "linf":
                n = torch.maximum(f["maximum"], -f["minimum"])
            else:
                n = f["gradient_magnitude_mean"]
            return self._time(torch.log(n + torch.sqrt(self.g)))

        return self._memo(f"log_norm.{norm}", make)

    def _norm_drift(self, norm: str, what: str) -> torch.Tensor:
        log_norm = self._log_norm(norm)
        if what == "log_ratio":
            return log_norm[..., -1] - log_norm[..., 0]
        return series.population_std(log_norm)

    def _gain(self) -> torch.Tensor:
        """``(B, M, C, T-1)`` growth of log rms per state step."""
        log_ms = self._time(torch.log(self.f["mean_square"] + self.g))
        return self._memo("gain", lambda: 0.5 * (log_ms[..., 1:] - log_ms[..., :-1]) / self.stride)

    def _gain_amplitude_slope(self) -> torch.Tensor:
        amplitude = 0.5 * self._time(torch.log(self.f["mean_square"] + self.g))[..., :-1]
        return series.regression_slope(self._gain(), amplitude)

    def _quantile_stats(self) -> dict[str, torch.Tensor]:
        if "quantile_skew_final" not in self._cache:
            flat = self._final().flatten(-2)
            q05, q25, q50, q75, q95 = quantiles(flat, (0.05, 0.25, 0.5, 0.75, 0.95))
            iqr = q75 - q25 + self._final_scale_guard()
            self._cache["quantile_skew_final"] = (q75 + q25 - 2.0 * q50) / iqr
            self._cache["tail_weight_final"] = (q95 - q05) / iqr
        return self._cache

    def _singular_stats(self) -> dict[str, torch.Tensor]:
        if "effective_rank_final" not in self._cache:
            final = self._final()
            centred = final - final.mean(dim=(-2, -1), keepdim=True)
            # The shares p are scale-free: compute them on the field divided by its largest |value| (a
            # constant for autograd), so that A·Aᵀ neither overflows nor stalls the eigensolver for huge fields.
            peak = centred.detach().abs().amax(dim=(-2, -1))
            scale = torch.where(peak > 0, peak, torch.ones_like(peak))
            unit = centred / scale[..., None, None]
            # A field whose mean already overflowed has no usable centring: its shares are NaN (reported by
            # the callers), and the eigensolver gets zeros instead of NaN, which it cannot handle.
            usable = torch.isfinite(unit).flatten(-2).all(dim=-1)
            unit = torch.where(usable[..., None, None], unit, torch.zeros_like(unit))
            # squared singular values = eigenvalues of A·Aᵀ (half the cost of an SVD, and no square root)
            energy = torch.linalg.eigvalsh(unit @ unit.transpose(-1, -2)).clamp_min(0.0).flip(-1)
            energy = torch.where(usable[..., None], energy, torch.full_like(energy, float("nan")))
            total = energy.sum(dim=-1) + self.g[:, :, -1] * float(self.H * self.W) / scale**2
            p = energy / total[..., None]
            entropy = -(p * torch.log(p + series.TINY)).sum(dim=-1)
            self._cache["effective_rank_final"] = torch.exp(entropy)
            self._cache["leading_mode_fraction_final"] = p[..., 0]
        return self._cache

    def _edge_density(self) -> torch.Tensor:
        dx, dy = gradient_field(self._final())
        energy = dx * dx + dy * dy
        ratio = energy / (
            energy.mean(dim=(-2, -1), keepdim=True) + self._grad_guard()[:, :, -1, :, None, None]
        )
        return torch.sigmoid(4.0 * (ratio - 2.0)).mean(dim=(-2, -1))

    def _morphology(self) -> dict[str, torch.Tensor]:
        if "area_fraction_final" not in self._cache:
            final = self._final()
            mean = self.f["mean"][:, :, -1, :, None, None]
            std = self.f["std"][:, :, -1, :, None, None]
            mask = torch.sigmoid((final - mean) / (self.config.interface_width * std))
            area = mask.mean(dim=(-2, -1))
            mx, my = gradient_field(mask)
            perimeter = torch.sqrt(mx * mx + my * my + series.TINY).mean(dim=(-2, -1))
            minority = torch.minimum(area, 1.0 - area)
            self._cache["area_fraction_final"] = area
            self._cache["interface_density_final"] = perimeter
            self._cache["compactness_final"] = 4.0 * math.pi * minority / (perimeter * perimeter + 1e-6)
        return self._cache

    def _coarse_variance(self, s: int) -> torch.Tensor:
        final = self._final()
        B, M, C, H, W = final.shape
        crop = final[..., : H - H % s, : W - W % s]
        pooled = F.avg_pool2d(crop.reshape(B * M * C, 1, *crop.shape[-2:]), s).reshape(B, M, C, -1)
        var = (pooled - pooled.mean(dim=-1, keepdim=True)).pow(2).mean(dim=-1)
        return var / (self.f["variance"][:, :, -1] + self.g[:, :, -1])

    def ensemble(self, stat: str) -> torch.Tensor:
        """``(B, C)`` statistics of the spread between realizations (M ≥ 2).

        Only two frames are needed: the first stored frame is the shared initial condition (no spread), so
        the growth rate runs from the second stored frame to the last.
        """
        if "ensemble_spread" not in self._cache:
            frames = self.x[:, :, [1, -1]]  # (B, M, 2, C, H, W)
            deviation = frames - frames.mean(dim=1, keepdim=True)
            squares = torch.linalg.vector_norm(deviation, 2, dim=(-2, -1)).pow(2)
            spread = squares.mean(dim=1) / float(self.H * self.W)  # (B, 2, C)
            v = (self.f["variance"] + self.g).mean(dim=1)[:, [1, -1]]
            self._cache["ensemble_spread"] = torch.log(spread / v + series.TINY)
        log_spread = self._cache["ensemble_spread"]
        if stat == "ensemble_spread_final":
            return log_spread[:, 1]
        steps = (self.x.shape[2] - 2) * self.stride
        return (log_spread[:, 1] - log_spread[:, 0]) / steps


def _check(traj: torch.Tensor | None) -> torch.Tensor:
    traj = check_trajectory(traj, "SUMMARY")
    if traj.shape[2] < 3:
        raise ValueError(
            f"SUMMARY needs at least 3 stored time steps (rates and curvature over time), got {traj.shape[2]}"
        )
    return traj
