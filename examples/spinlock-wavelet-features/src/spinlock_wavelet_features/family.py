"""The ``wavelet`` feature family: multiscale Haar wavelet energies of a trajectory, ``(batch, D)``.

Every field ``u`` of shape ``(height, width)`` (one sample, realization, time step and channel) has its
spatial mean removed and is decomposed with the orthonormal 2-D Haar transform into L levels. Level 1 is
the finest: it splits ``u`` into four half-size subbands,

- ``LL`` (low-pass along width and height: the 2×2 block means, times 2), decomposed again at level 2;
- ``LH`` (low-pass along width, high-pass along height: variation from row to row, horizontal edges);
- ``HL`` (high-pass along width, low-pass along height: variation from column to column, vertical edges);
- ``HH`` (high-pass along both: diagonal detail, e.g. a checkerboard).

The transform is orthonormal, so energy (sum of squares) is preserved (Parseval): the detail energies of all
levels plus the energy of the level-L approximation ``LL`` equal the energy of the mean-removed field.

Columns, per channel k (level-major, then band, then channel; every category ``multiscale``):

- ``haar_l{l}_{band}_c{k}`` for l = 1..L and band in LH, HL, HH: that subband's share of the field's energy;
- ``haar_approx_c{k}``: the share left in the level-L approximation (structure coarser than ``2**L`` cells);
- ``haar_scale_c{k}``: the energy-weighted mean level, ``Σ_l l · share_l + (L + 1) · approx``, between 1
  (all energy at the finest scale) and L + 1 (all of it in the approximation).

Shares are computed per field and then averaged over time and realizations, so the shares of one channel sum
to 1 — except for a constant field, whose energy is 0 and whose columns are all 0. Channels are never mixed
and no statistic spans the batch: a sample's values depend on that sample alone.
"""

from __future__ import annotations

import torch

from spinlock.core.features.family import FeatureColumns, FeatureInputs
from spinlock_wavelet_features.config import WAVELET_VERSION, WaveletConfig

BANDS: tuple[str, ...] = ("LH", "HL", "HH")
CATEGORY = "multiscale"


def haar_step(field: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One level of the orthonormal 2-D Haar transform.

    :param field: ``(..., height, width)`` with even height and width.
    :returns: ``(LL, LH, HL, HH)``, each ``(..., height // 2, width // 2)``; band letters give the filter
        along width, then along height.
    """
    a = field[..., 0::2, 0::2]  # top left of each 2×2 block
    b = field[..., 0::2, 1::2]  # top right
    c = field[..., 1::2, 0::2]  # bottom left
    d = field[..., 1::2, 1::2]  # bottom right
    ll = (a + b + c + d) / 2
    lh = (a + b - c - d) / 2
    hl = (a - b + c - d) / 2
    hh = (a - b - c + d) / 2
    return ll, lh, hl, hh


def haar_energies(field: torch.Tensor, levels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Energies (sums of squares) of the subbands of an L-level 2-D Haar decomposition.

    The field is decomposed as given (no mean removal). By Parseval, ``details.sum((-2, -1)) + approx``
    equals ``field.pow(2).sum((-2, -1))``.

    :param field: ``(..., height, width)``, height and width divisible by ``2**levels``.
    :param levels: number of levels L (≥ 1).
    :returns: ``(details, approx)``: details ``(..., L, 3)`` with bands ordered LH, HL, HH and level 1
        (finest) first; approx ``(...)``, the energy of the level-L ``LL`` subband.
    """
    _check_levels(levels)
    _check_divisible(tuple(field.shape[-2:]), levels)
    per_level: list[torch.Tensor] = []
    ll = field
    for _ in range(levels):
        ll, lh, hl, hh = haar_step(ll)
        per_level.append(torch.stack([band.pow(2).sum(dim=(-2, -1)) for band in (lh, hl, hh)], dim=-1))
    return torch.stack(per_level, dim=-2), ll.pow(2).sum(dim=(-2, -1))


def haar_energy_shares(field: torch.Tensor, levels: int) -> torch.Tensor:
    """Per-field energy shares of the mean-removed field.

    :param field: ``(..., height, width)``, height and width divisible by ``2**levels``.
    :param levels: number of levels L (≥ 1).
    :returns: ``(..., 3 L + 2)``: the L × 3 detail shares (level-major, bands LH, HL, HH), the approximation
        share, and the energy-weighted mean level. All 0 for a constant field.
    """
    centred = field - field.mean(dim=(-2, -1), keepdim=True)
    details, approx = haar_energies(centred, levels)
    total = centred.pow(2).sum(dim=(-2, -1))
    # A constant field has no energy: its shares are 0/0, reported as 0 (the gradient stays finite too).
    denominator = total.clamp_min(torch.finfo(total.dtype).tiny).unsqueeze(-1)
    shares = torch.cat([details.flatten(-2), approx.unsqueeze(-1)], dim=-1) / denominator
    weights = torch.arange(1, levels + 1, dtype=shares.dtype, device=shares.device).repeat_interleave(3)
    weights = torch.cat([weights, weights.new_full((1,), float(levels + 1))])
    scale = (shares * weights).sum(dim=-1, keepdim=True)
    return torch.cat([shares, scale], dim=-1)


class WaveletFamily:
    """Haar wavelet energies of ``inputs.trajectory`` ``(batch, realizations, time, channels, height, width)``
    → ``(batch, (3 L + 2) · channels)``.

    Float64 trajectories give float64 values (so gradients can be checked with ``gradcheck``); anything else
    gives float32. The computation is differentiable with respect to the trajectory.
    """

    name = "wavelet"
    version = WAVELET_VERSION
    inputs = frozenset({"trajectory"})

    def __init__(self, config: WaveletConfig | None = None) -> None:
        self.config = config if config is not None else WaveletConfig()

    def column_stats(self) -> list[str]:
        """The per-channel statistics, in column order (without the ``_c{k}`` suffix)."""
        levels = range(1, self.config.levels + 1)
        return [f"haar_l{level}_{band}" for level in levels for band in BANDS] + ["haar_approx", "haar_scale"]

    def columns_for_channels(self, channels: int) -> FeatureColumns:
        """The columns for ``channels`` channels (they depend on the channel count and the config only)."""
        names = [f"{stat}_c{k}" for stat in self.column_stats() for k in range(channels)]
        return FeatureColumns(names=names, categories=[CATEGORY] * len(names), per_timestep=False)

    def columns(self, inputs: FeatureInputs) -> FeatureColumns:
        """The columns for this batch; raises ``ValueError`` for a trajectory this family cannot handle."""
        trajectory = self._check_trajectory(inputs.trajectory)
        return self.columns_for_channels(int(trajectory.shape[3]))

    def compute(self, inputs: FeatureInputs) -> torch.Tensor:
        """Values of a batch.

        :param inputs: a batch whose ``trajectory`` is ``(batch, realizations, time, channels, height,
            width)``, floating point, with height and width divisible by ``2**levels``.
        :returns: ``(batch, D)`` with D = ``(3 · levels + 2) · channels`` = ``len(self.columns(inputs))``,
            stat-major and channel-minor; float64 for a float64 trajectory, float32 otherwise.
        :raises ValueError: for a missing trajectory or one this family cannot decompose.
        """
        trajectory = self._check_trajectory(inputs.trajectory)
        B, M, T, C, H, W = trajectory.shape
        dtype = torch.float64 if trajectory.dtype == torch.float64 else torch.float32
        x = trajectory.to(dtype)
        # The chunk length depends on one sample's shape only, never on the batch size.
        t_chunk = max(1, self.config.chunk_elements // (M * C * H * W))
        total: torch.Tensor | None = None
        for t0 in range(0, T, t_chunk):
            shares = haar_energy_shares(x[:, :, t0 : t0 + t_chunk], self.config.levels)  # (B, M, t, C, F)
            partial = shares.sum(dim=(1, 2))  # (B, C, F)
            total = partial if total is None else total + partial
        assert total is not None  # T ≥ 1 is checked above
        mean = total / (M * T)
        return mean.transpose(1, 2).reshape(B, mean.shape[1] * mean.shape[2])  # (B, F · C), channel-minor

    def _check_trajectory(self, trajectory: torch.Tensor | None) -> torch.Tensor:
        if trajectory is None:
            raise ValueError("the wavelet family needs inputs.trajectory, got None")
        if not isinstance(trajectory, torch.Tensor):
            raise ValueError(f"trajectory must be a torch.Tensor, got {type(trajectory).__name__}")
        if trajectory.ndim != 6:
            raise ValueError(
                "trajectory must be 6-D (batch, realizations, time, channels, height, width), "
                f"got shape {tuple(trajectory.shape)}"
            )
        if not trajectory.is_floating_point():
            raise ValueError(f"trajectory must be floating point, got {trajectory.dtype}")
        _, M, T, C = trajectory.shape[:4]
        if M < 1 or T < 1 or C < 1:
            raise ValueError(
                "trajectory needs at least one realization, time step and channel, "
                f"got shape {tuple(trajectory.shape)}"
            )
        _check_divisible(tuple(trajectory.shape[-2:]), self.config.levels)
        return trajectory


def _check_levels(levels: int) -> None:
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
        raise ValueError(f"levels must be an integer >= 1, got {levels!r}")


def _check_divisible(shape: tuple[int, ...], levels: int) -> None:
    height, width = shape
    factor = 2**levels
    if height < factor or width < factor or height % factor or width % factor:
        raise ValueError(
            f"fields of {height}×{width} cannot be split into {levels} Haar levels: height and width must "
            f"be positive multiples of 2**{levels} = {factor} (lower `levels`, or crop or pad the fields)"
        )


__all__ = ["BANDS", "WaveletFamily", "haar_energies", "haar_energy_shares", "haar_step"]
