"""Config of the TEMPORAL family (torch-free, so that registering it imports no torch)."""

from __future__ import annotations

import attrs


@attrs.frozen
class TemporalConfig:
    """TEMPORAL family: per-timestep statistics of the trajectory, ``(N, T, D)``.

    Every column is computed per (sample, realization, time step[, channel]) from that field alone, kept per
    channel (columns ``<name>_c{k}``, so channels are never mixed, BUG-17) and then averaged over the M
    realizations. With ``realization_std`` a few key columns (``spatial_std``, ``spectral_centroid`` and
    ``gradient_energy`` of every channel) also get their population standard deviation over M, named
    ``<name>_c{k}_rstd`` (identically 0 when M = 1). The column list depends on C and on this config only.

    :param spatial: moments, extrema, gradient and Laplacian statistics.
    :param spectral: band-power fractions, centroid, bandwidth, slope, entropy, dominant wavenumber.
    :param cross_channel: channel-correlation statistics (omitted when C = 1).
    :param n_bands: radial bands of the band-power fractions; edges are geometric in cycles/domain.
    :param realization_std: also emit the std over realizations of the key columns above.
    :param dominant_sharpness: β of the soft argmax ``Σ k softmax(β log E(k))`` of the dominant wavenumber.
    """

    spatial: bool = True
    spectral: bool = True
    cross_channel: bool = True
    n_bands: int = attrs.field(default=4, validator=[attrs.validators.ge(1), attrs.validators.le(16)])
    realization_std: bool = True
    dominant_sharpness: float = attrs.field(default=10.0, validator=attrs.validators.gt(0.0))

    def __attrs_post_init__(self) -> None:
        if not (self.spatial or self.spectral or self.cross_channel):
            raise ValueError("TEMPORAL needs at least one of spatial, spectral, cross_channel enabled")
