"""The TEMPORAL feature family: per-timestep statistics of a trajectory, ``(N, T, D)``.

Per (sample, realization, time step, channel) field ``u`` of shape ``(H, W)`` (see
:mod:`spinlock.features.temporal.stats` for units and guards):

- **spatial** (per channel): ``spatial_mean``, ``spatial_std``, ``spatial_skewness``,
  ``spatial_kurtosis`` (excess), ``spatial_min``, ``spatial_max``, ``gradient_energy`` (mean |∇u|²),
  ``gradient_magnitude_mean``, ``gradient_anisotropy`` (share of |∇u|² along x), ``laplacian_energy``;
- **spectral** (per channel): ``band_fraction_{i}`` for ``n_bands`` geometric radial bands in cycles per
  domain, ``spectral_centroid``, ``spectral_bandwidth``, ``spectral_slope`` (log-log),
  ``spectral_entropy`` (normalised), ``dominant_wavenumber`` (soft argmax of the radial spectrum);
- **cross_channel** (per time step, only when C ≥ 2): ``cross_channel_corr_c{i}_c{j}`` for every pair
  i < j, ``cross_channel_abs_corr_mean``, ``cross_channel_abs_corr_max``,
  ``cross_channel_participation_ratio``.

Per-channel columns are kept per channel, named ``<name>_c{k}`` (stat-major, channel-minor), so that
channels are never averaged together (BUG-17). Every column is then averaged over the M realizations; with
``realization_std`` the population std over M of ``spatial_std``, ``gradient_energy`` (spatial) and
``spectral_centroid`` (spectral) is appended per channel as ``<name>_c{k}_rstd``. No statistic ever spans
the batch (BUG-13). Non-finite trajectory values propagate to the affected sample's values only.
"""

from __future__ import annotations

import torch

from spinlock.core.features.family import FeatureColumns, FeatureInputs
from spinlock.features.frames import check_trajectory, shared_frame_statistics
from spinlock.features.temporal.config import TemporalConfig
from spinlock.features.temporal.registration import TEMPORAL_VERSION
from spinlock.features.temporal.stats import correlation_from_covariance, correlation_stats

SPATIAL_STATS: tuple[str, ...] = (
    "spatial_mean",
    "spatial_std",
    "spatial_skewness",
    "spatial_kurtosis",
    "spatial_min",
    "spatial_max",
    "gradient_energy",
    "gradient_magnitude_mean",
    "gradient_anisotropy",
    "laplacian_energy",
)
SPECTRAL_TAIL: tuple[str, ...] = (
    "spectral_centroid",
    "spectral_bandwidth",
    "spectral_slope",
    "spectral_entropy",
    "dominant_wavenumber",
)
#: per-channel statistics whose std over realizations is also emitted (category, name)
RSTD_STATS: tuple[tuple[str, str], ...] = (
    ("spatial", "spatial_std"),
    ("spatial", "gradient_energy"),
    ("spectral", "spectral_centroid"),
)


class TemporalFamily:
    """Per-timestep features of ``inputs.trajectory`` ``(B, M, T, C, H, W)`` → ``(B, T, D)``.

    Float64 trajectories give float64 values (so gradients can be checked); anything else gives float32.
    """

    name = "temporal"
    version = TEMPORAL_VERSION
    inputs = frozenset({"trajectory"})

    def __init__(self, config: TemporalConfig | None = None) -> None:
        self.config = config if config is not None else TemporalConfig()

    # -------------------------------------------------------------------------------------------- columns
    def _spectral_stats(self) -> tuple[str, ...]:
        return tuple(f"band_fraction_{i}" for i in range(self.config.n_bands)) + SPECTRAL_TAIL

    def _per_channel_stats(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if self.config.spatial:
            out += [("spatial", s) for s in SPATIAL_STATS]
        if self.config.spectral:
            out += [("spectral", s) for s in self._spectral_stats()]
        return out

    def _rstd_stats(self) -> list[str]:
        if not self.config.realization_std:
            return []
        enabled = {"spatial": self.config.spatial, "spectral": self.config.spectral}
        return [name for cat, name in RSTD_STATS if enabled[cat]]

    def columns_for_channels(self, C: int) -> FeatureColumns:
        """The columns for C channels (they depend on C and the config only)."""
        names: list[str] = []
        cats: list[str] = []
        for cat, stat in self._per_channel_stats():
            for k in range(C):
                names.append(f"{stat}_c{k}")
                cats.append(cat)
        if self.config.cross_channel and C >= 2:
            for i in range(C):
                for j in range(i + 1, C):
                    names.append(f"cross_channel_corr_c{i}_c{j}")
                    cats.append("cross_channel")
            for stat in ("abs_corr_mean", "abs_corr_max", "participation_ratio"):
                names.append(f"cross_channel_{stat}")
                cats.append("cross_channel")
        cat_of = {name: cat for cat, name in RSTD_STATS}
        for stat in self._rstd_stats():
            for k in range(C):
                names.append(f"{stat}_c{k}_rstd")
                cats.append(cat_of[stat])
        return FeatureColumns(names=names, categories=cats, per_timestep=True)

    def columns(self, inputs: FeatureInputs) -> FeatureColumns:
        traj = check_trajectory(inputs.trajectory, "TEMPORAL")
        return self.columns_for_channels(int(traj.shape[3]))

    # -------------------------------------------------------------------------------------------- compute
    def compute(self, inputs: FeatureInputs) -> torch.Tensor:
        traj = check_trajectory(inputs.trajectory, "TEMPORAL")
        B, _, T, C = traj.shape[:4]
        dtype = torch.float64 if traj.dtype == torch.float64 else torch.float32
        if T == 0 or B == 0:
            return traj.new_zeros((B, T, len(self.columns_for_channels(C))), dtype=dtype)
        x = traj.to(dtype)
        cfg = self.config
        frames = shared_frame_statistics(inputs, x, cfg.n_bands, cfg.dominant_sharpness)
        per_channel: dict[str, torch.Tensor] = {}  # each (B, M, T, C)
        if cfg.spatial:
            per_channel.update({f"spatial_{k}": frames[k] for k in ("mean", "std", "skewness", "kurtosis")})
            per_channel.update(spatial_min=frames["minimum"], spatial_max=frames["maximum"])
            per_channel.update({k: frames[k] for k in SPATIAL_STATS[6:]})
        if cfg.spectral:
            for i in range(cfg.n_bands):
                per_channel[f"band_fraction_{i}"] = frames.band_fraction[..., i]
            per_channel.update({k: frames[k] for k in SPECTRAL_TAIL})
        parts: list[torch.Tensor] = []  # each (B, M, T, n)
        stats = [s for _, s in self._per_channel_stats()]
        if stats:
            parts.append(torch.stack([per_channel[s] for s in stats], dim=-2).flatten(-2))
        if cfg.cross_channel and C >= 2:
            corr = correlation_from_covariance(frames.channel_cov, frames["mean"])
            cs = correlation_stats(corr)
            parts.append(cs["pairs"])
            parts.append(
                torch.stack([cs["abs_corr_mean"], cs["abs_corr_max"], cs["participation_ratio"]], dim=-1)
            )
        mean = torch.cat(parts, dim=-1).mean(dim=1)
        rstd = self._rstd_stats()
        if not rstd:
            return mean
        r = torch.stack([per_channel[s] for s in rstd], dim=-2).flatten(-2)  # (B, M, T, n·C)
        var = (r - r.mean(dim=1, keepdim=True)).pow(2).mean(dim=1)
        # guard so that the gradient stays finite when all realizations agree (M = 1)
        std = torch.sqrt(var + 1e-24)
        return torch.cat([mean, std], dim=-1)
