"""Configuration classes of the 28 initial-condition types (import-light: attrs only, no torch).

Units used by every config (see ``docs/initial-conditions.md``):

- **Lengths** (widths, radii, wavelengths, correlation lengths) are fractions of ``L``, the grid's shorter
  side: ``length_scale=0.1`` on a 64×128 grid is 6.4 pixels in both directions.
- **Wavenumbers / frequencies** are in cycles per ``L`` (cycles per domain on square grids).
- **Amplitudes and variances** are in field units (the fields are dimensionless).
- **Probabilities and rates** are in [0, 1].

Every field has a default, every config is frozen, and the validators name the field and the bad value
(``'length_scale' must be > 0: -1``).
"""

from __future__ import annotations

from typing import Any

import attrs

from spinlock.core.config.validators import non_negative, one_of, positive, unit_interval


def _ordered_range(minimum: float = 0.0, *, strict: bool = True, maximum: float | None = None) -> Any:
    """A ``(low, high)`` pair with ``minimum < low <= high`` (``<=`` when not strict) and ``high <= maximum``."""

    def check(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        name = attribute.name
        if len(value) != 2:
            raise ValueError(f"'{name}' must be a pair (low, high): {value!r}")
        low, high = value
        if strict and not low > minimum:
            raise ValueError(f"'{name}' lower bound must be > {minimum}: {value!r}")
        if not strict and not low >= minimum:
            raise ValueError(f"'{name}' lower bound must be >= {minimum}: {value!r}")
        if not high >= low:
            raise ValueError(f"'{name}' must have low <= high: {value!r}")
        if maximum is not None and not high <= maximum:
            raise ValueError(f"'{name}' upper bound must be <= {maximum}: {value!r}")

    return check


def _at_least(minimum: int) -> Any:
    def check(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not value >= minimum:
            raise ValueError(f"'{attribute.name}' must be >= {minimum}: {value!r}")

    return check


def _below(maximum: float) -> Any:
    def check(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not value < maximum:
            raise ValueError(f"'{attribute.name}' must be < {maximum}: {value!r}")

    return check


def _subset_of(*choices: str) -> Any:
    """A non-empty tuple whose items are all in ``choices``."""
    item_check = one_of(*choices)

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not value:
            raise ValueError(f"'{attribute.name}' must not be empty")
        for item in value:
            item_check(instance, attribute, item)

    return check


def _tuple_of_floats(value: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in value)


def _tuple_of_str(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value)


def _positive_items(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not value:
        raise ValueError(f"'{attribute.name}' must not be empty")
    for item in value:
        if not item > 0:
            raise ValueError(f"'{attribute.name}' items must be > 0: {value!r}")


# ---------------------------------------------------------------------------------------------------------
# Baseline
# ---------------------------------------------------------------------------------------------------------


@attrs.frozen
class GaussianRandomFieldConfig:
    """Stationary Gaussian random field, zero mean.

    :param length_scale: correlation length ℓ (fraction of L). ``gaussian``: covariance
        ``variance·exp(−r²/(2ℓ²))``, spectrum ``∝ exp(−2π²ℓ²k²)`` (k in cycles per L). ``matern``:
        spectrum ``∝ (1/ℓ² + 4π²k²)^−(ν+1)``.
    :param variance: expected pointwise variance (field units²).
    :param spectrum: ``gaussian`` (squared-exponential covariance) or ``matern``.
    :param matern_nu: Matérn smoothness ν (only for ``spectrum='matern'``).
    :param channel_correlation: correlation ρ between channels (0: independent channels; each channel is
        ``√ρ·z₀ + √(1−ρ)·z_c`` with independent fields z).
    """

    length_scale: float = attrs.field(default=0.1, validator=positive)
    variance: float = attrs.field(default=1.0, validator=positive)
    spectrum: str = attrs.field(default="gaussian", validator=one_of("gaussian", "matern"))
    matern_nu: float = attrs.field(default=1.5, validator=positive)
    channel_correlation: float = attrs.field(default=0.0, validator=[unit_interval, _below(1.0)])


@attrs.frozen
class StructuredConfig:
    """Superposition of geometric structures (hard disks, plane-wave stripes, Gaussian blobs).

    :param num_structures: structures per field.
    :param structure_types: kinds drawn uniformly per structure, among ``circle``, ``stripe``, ``blob``.
    :param circle_radius_range: disk radius range (fraction of L).
    :param stripe_frequency_range: stripe frequency range (cycles per L).
    :param blob_width_range: Gaussian blob σ range (fraction of L).
    :param amplitude: std of each structure's per-channel amplitude (normal, independent per channel).
    """

    num_structures: int = attrs.field(default=5, validator=_at_least(1))
    structure_types: tuple[str, ...] = attrs.field(
        default=("circle", "stripe", "blob"),
        converter=_tuple_of_str,
        validator=_subset_of("circle", "stripe", "blob"),
    )
    circle_radius_range: tuple[float, float] = attrs.field(
        default=(0.05, 0.2), converter=_tuple_of_floats, validator=_ordered_range()
    )
    stripe_frequency_range: tuple[float, float] = attrs.field(
        default=(1.0, 6.0), converter=_tuple_of_floats, validator=_ordered_range()
    )
    blob_width_range: tuple[float, float] = attrs.field(
        default=(0.03, 0.15), converter=_tuple_of_floats, validator=_ordered_range()
    )
    amplitude: float = attrs.field(default=1.0, validator=positive)


@attrs.frozen
class MixedConfig:
    """Per sample, either a Gaussian random field (probability ``grf_probability``) or a structured field.

    The choice is drawn from the sample's own seed (the reference split the batch in halves, so a sample's
    type depended on its batch position); each sub-generator has its own params.
    """

    grf_probability: float = attrs.field(default=0.5, validator=unit_interval)
    grf: GaussianRandomFieldConfig = attrs.field(factory=GaussianRandomFieldConfig)
    structured: StructuredConfig = attrs.field(factory=StructuredConfig)


@attrs.frozen
class MultiscaleGRFConfig:
    """Sum of independent Gaussian random fields at several correlation lengths.

    :param scales: correlation lengths (fractions of L).
    :param weights: share of the variance per scale (normalised to sum 1); empty = equal shares.
    :param variance: total expected pointwise variance.
    """

    scales: tuple[float, ...] = attrs.field(
        default=(0.02, 0.05, 0.1, 0.2, 0.4), converter=_tuple_of_floats, validator=_positive_items
    )
    weights: tuple[float, ...] = attrs.field(default=(), converter=_tuple_of_floats)
    variance: float = attrs.field(default=1.0, validator=positive)

    @weights.validator
    def _check_weights(self, attribute: attrs.Attribute[Any], value: tuple[float, ...]) -> None:
        if not value:
            return
        if len(value) != len(self.scales):
            raise ValueError(f"'weights' must have one entry per scale ({len(self.scales)}): {value!r}")
        if any(w < 0 for w in value) or sum(value) <= 0:
            raise ValueError(f"'weights' must be >= 0 and not all zero: {value!r}")


@attrs.frozen
class LocalizedConfig:
    """Sum of Gaussian blobs at uniform positions.

    :param num_blobs: blobs per field.
    :param width_range: blob σ range (fraction of L); the reference's 5–15 px at 64² is about 0.08–0.23.
    :param amplitude: std of each blob's per-channel amplitude.
    """

    num_blobs: int = attrs.field(default=5, validator=_at_least(1))
    width_range: tuple[float, float] = attrs.field(
        default=(0.05, 0.15), converter=_tuple_of_floats, validator=_ordered_range()
    )
    amplitude: float = attrs.field(default=1.0, validator=positive)


@attrs.frozen
class CompositeConfig:
    """A deterministic pattern plus Gaussian-random-field noise.

    :param pattern: ``waves``, ``grid``, ``radial`` or ``random`` (one of the three per sample).
    :param frequency_range: pattern frequency range (cycles per L).
    :param noise_level: std of the added noise field.
    :param noise_length_scale: correlation length of the noise (fraction of L).
    """

    pattern: str = attrs.field(default="random", validator=one_of("waves", "grid", "radial", "random"))
    frequency_range: tuple[float, float] = attrs.field(
        default=(2.0, 6.0), converter=_tuple_of_floats, validator=_ordered_range()
    )
    noise_level: float = attrs.field(default=0.1, validator=non_negative)
    noise_length_scale: float = attrs.field(default=0.05, validator=positive)


@attrs.frozen
class HeavyTailedConfig:
    """Gaussian field with a power-law (heavy-tailed) spectrum ``P(k) ∝ k^−α`` for ``k_min <= k <= k_max``.

    The mean (k = 0) carries no power, so the field is not DC-dominated (the reference's was).

    :param alpha: spectral exponent α of the radially resolved 2-D power spectrum.
    :param k_min: lowest wavenumber with power (cycles per L).
    :param k_max: highest wavenumber with power (cycles per L); 0 = up to the grid's Nyquist limit.
    :param variance: expected pointwise variance.
    """

    alpha: float = attrs.field(default=1.5, validator=non_negative)
    k_min: float = attrs.field(default=1.0, validator=positive)
    k_max: float = attrs.field(default=0.0, validator=non_negative)
    variance: float = attrs.field(default=1.0, validator=positive)

    @k_max.validator
    def _check_k_max(self, attribute: attrs.Attribute[Any], value: float) -> None:
        if value and value < self.k_min:
            raise ValueError(f"'k_max' must be 0 or >= k_min ({self.k_min}): {value!r}")


# ---------------------------------------------------------------------------------------------------------
# Tier 1: foundational
# ---------------------------------------------------------------------------------------------------------


@attrs.frozen
class QuantumWavePacketConfig:
    """Superposed Gaussian wave packets ψ = Σ exp(−r²/(4σ²))·exp(i k·(x − x₀)), scaled so max |ψ|² = 1.

    Channels: ``Re ψ``, ``Im ψ``, ``|ψ|²`` (C=1: ``Re ψ``; C=2: ``Re ψ, Im ψ``); channels 3, 4 are the
    probability current ``j_x, j_y = Im(ψ*∇ψ)`` (normalised by max |j|), further channels ``Re(ψ·e^{−iθ_c})``
    at golden-angle phases θ_c.

    :param sigma: packet width σ (fraction of L).
    :param momentum_range: |k| range (cycles per L); the direction is uniform.
    :param num_packets: packets per field.
    """

    sigma: float = attrs.field(default=0.15, validator=positive)
    momentum_range: tuple[float, float] = attrs.field(
        default=(2.0, 6.0), converter=_tuple_of_floats, validator=_ordered_range(strict=False)
    )
    num_packets: int = attrs.field(default=1, validator=_at_least(1))


@attrs.frozen
class TuringPatternConfig:
    """Turing-type pattern: cosines at the critical wavenumber ``1/wavelength`` plus a small GRF perturbation.

    Channels share the pattern's directions (one morphology) with independent phases and perturbations.

    :param pattern_type: ``spots`` (three waves at 120°), ``stripes`` (one wave), ``labyrinth`` (2–4 random
        directions) or ``mixed`` (one of the three per sample).
    :param wavelength: pattern wavelength (fraction of L).
    :param perturbation_amplitude: std of the added GRF (correlation length = wavelength / 2).
    """

    pattern_type: str = attrs.field(
        default="mixed", validator=one_of("spots", "stripes", "labyrinth", "mixed")
    )
    wavelength: float = attrs.field(default=0.25, validator=positive)
    perturbation_amplitude: float = attrs.field(default=0.1, validator=non_negative)


@attrs.frozen
class ThermalGradientConfig:
    """Temperature ramp ``T_min + (T_max − T_min)·g^β`` along a random direction, plus GRF fluctuations.

    g ∈ [0, 1] is the normalised coordinate along the direction. Each channel is an independent ramp (own
    direction and fluctuations) with the same range and exponent.

    :param temperature_range: (T_min, T_max).
    :param exponent: β (1 = linear).
    :param direction: ``random`` (uniform angle), ``x``, ``y`` or ``diagonal``.
    :param fluctuation_amplitude: std of the GRF fluctuations.
    :param fluctuation_length_scale: their correlation length (fraction of L).
    """

    temperature_range: tuple[float, float] = attrs.field(
        default=(0.0, 1.0), converter=_tuple_of_floats, validator=_ordered_range(minimum=-1e30)
    )
    exponent: float = attrs.field(default=1.0, validator=positive)
    direction: str = attrs.field(default="random", validator=one_of("random", "x", "y", "diagonal"))
    fluctuation_amplitude: float = attrs.field(default=0.1, validator=non_negative)
    fluctuation_length_scale: float = attrs.field(default=0.08, validator=positive)


@attrs.frozen
class MorphogenGradientConfig:
    """Morphogen concentration around point sources: ``Σ C₀·profile(r/λ)`` plus GRF noise.

    Channel c is a distinct morphogen secreted by the same sources with decay length
    ``decay_length·channel_decay_ratio**c`` and its own source strengths C₀ ~ U(0.5, 1).

    :param num_sources: sources per field.
    :param decay_length: λ of channel 0 (fraction of L).
    :param profile: ``exponential`` exp(−r/λ), ``power_law`` 1/(1+(r/λ)²), ``sigmoidal`` 1/(1+exp((r−λ)/(λ/4))).
    :param channel_decay_ratio: ratio of decay lengths between consecutive channels.
    :param noise_amplitude: std of the added GRF (correlation length 0.05).
    """

    num_sources: int = attrs.field(default=1, validator=_at_least(1))
    decay_length: float = attrs.field(default=0.3, validator=positive)
    profile: str = attrs.field(
        default="exponential", validator=one_of("exponential", "power_law", "sigmoidal")
    )
    channel_decay_ratio: float = attrs.field(default=1.3, validator=positive)
    noise_amplitude: float = attrs.field(default=0.05, validator=non_negative)


@attrs.frozen
class ReactionFrontConfig:
    """Reaction front u = ½(1 + tanh(d/w)), d the signed distance to the front (max over fronts).

    Channels: product ``u``, reactant ``1 − u``, reaction zone ``4u(1 − u)``; channel c >= 3 is a trailing
    species whose front lags by ``2·(c − 2)·w``.

    :param front_width: w (fraction of L); the steepest slope of u is 1/(2w).
    :param front_shape: ``planar`` (random angle and offset), ``circular`` (radius 0.2–0.5 L), ``irregular``
        (level set of a smooth random field) or ``random`` (one of the three per sample).
    :param num_fronts: fronts per field (combined with max).
    """

    front_width: float = attrs.field(default=0.05, validator=positive)
    front_shape: str = attrs.field(
        default="planar", validator=one_of("planar", "circular", "irregular", "random")
    )
    num_fronts: int = attrs.field(default=1, validator=_at_least(1))


# ---------------------------------------------------------------------------------------------------------
# Tier 2: specialized
# ---------------------------------------------------------------------------------------------------------


@attrs.frozen
class LightConeConfig:
    """GRF fluctuations confined to causal disks: ``sigmoid((R − r)/s)·GRF``.

    Channels: independent fluctuations inside the same cones.

    :param cone_radius: R (fraction of L).
    :param smoothing: edge width s (fraction of L).
    :param num_cones: cones per field (masks combined with max).
    :param field_length_scale: correlation length of the fluctuations (fraction of L).
    """

    cone_radius: float = attrs.field(default=0.3, validator=positive)
    smoothing: float = attrs.field(default=0.03, validator=positive)
    num_cones: int = attrs.field(default=1, validator=_at_least(1))
    field_length_scale: float = attrs.field(default=0.08, validator=positive)


@attrs.frozen
class CriticalFluctuationConfig:
    """Ornstein–Zernike critical fluctuations: ``P(k) ∝ (q² + ξ⁻²)^−(2−η)/2`` with q = 2πk.

    (The reference used the exponent −η/2, a nearly white spectrum.) Channels are independent.

    :param correlation_length: ξ (fraction of L).
    :param eta: anomalous dimension η (2-D Ising: 0.25).
    :param variance: expected pointwise variance.
    """

    correlation_length: float = attrs.field(default=0.25, validator=positive)
    eta: float = attrs.field(default=0.25, validator=[non_negative, _below(2.0)])
    variance: float = attrs.field(default=1.0, validator=positive)


@attrs.frozen
class PhaseBoundaryConfig:
    """Interface between two phases: ``φ = tanh(d/(√2·w))`` plus GRF fluctuations.

    Channels: independent interfaces (own orientation and position), like several order parameters.

    :param interface_width: w (fraction of L); the steepest slope of φ is 1/(√2·w).
    :param boundary_shape: ``planar`` or ``circular`` (droplet of radius 0.15–0.4 L).
    :param fluctuation_amplitude: std of the added GRF.
    :param fluctuation_length_scale: its correlation length (fraction of L).
    """

    interface_width: float = attrs.field(default=0.05, validator=positive)
    boundary_shape: str = attrs.field(default="planar", validator=one_of("planar", "circular"))
    fluctuation_amplitude: float = attrs.field(default=0.1, validator=non_negative)
    fluctuation_length_scale: float = attrs.field(default=0.1, validator=positive)


@attrs.frozen
class BZReactionConfig:
    """Belousov–Zhabotinsky waves: a phase field φ(x) and channels ``cos(φ − θ_c)``.

    θ_c are golden-angle phase offsets (the oscillating species lag each other). Amplitude is damped within
    one wavelength of spiral cores (tanh(r/λ)).

    :param pattern_type: ``spiral`` (φ = ±θ − 2πr/λ), ``target`` (φ = 2πr/λ), ``turbulent``
        (several spirals, phases summed) or ``random``.
    :param wavelength: λ (fraction of L).
    :param num_spirals: spirals in the turbulent pattern.
    """

    pattern_type: str = attrs.field(
        default="random", validator=one_of("spiral", "target", "turbulent", "random")
    )
    wavelength: float = attrs.field(default=0.25, validator=positive)
    num_spirals: int = attrs.field(default=4, validator=_at_least(1))


@attrs.frozen
class ShannonEntropyConfig:
    """Noise whose local differential entropy follows a map: local std σ(x) = exp(H(x))/√(2πe).

    A Gaussian of std σ has differential entropy ½·ln(2πeσ²) = H nats. A smooth GRF background is added.
    Channels: independent noise (and background) under the same entropy map.

    :param entropy_range: (H_min, H_max) in nats.
    :param entropy_map: ``gradient`` (linear ramp at a random angle), ``patchy`` (two-level patches from a
        thresholded smooth field) or ``smooth`` (smooth random field mapped into the range).
    :param map_length_scale: correlation length of the patchy / smooth maps (fraction of L).
    :param base_amplitude: std of the background GRF.
    :param base_length_scale: its correlation length (fraction of L).
    """

    entropy_range: tuple[float, float] = attrs.field(
        default=(-1.0, 0.5), converter=_tuple_of_floats, validator=_ordered_range(minimum=-50.0)
    )
    entropy_map: str = attrs.field(default="gradient", validator=one_of("gradient", "patchy", "smooth"))
    map_length_scale: float = attrs.field(default=0.15, validator=positive)
    base_amplitude: float = attrs.field(default=0.5, validator=non_negative)
    base_length_scale: float = attrs.field(default=0.2, validator=positive)


# ---------------------------------------------------------------------------------------------------------
# Tier 3: complex systems
# ---------------------------------------------------------------------------------------------------------


@attrs.frozen
class InterferencePatternConfig:
    """Circular waves from point sources: ``Σ_j cos(2πr_j/λ + φ_j)·exp(−r_j²/(2s²))``, scaled to max 1.

    Sources lie in the central 80% of the domain. Channels: the same sources with independent phases φ_j
    (different fringe positions).

    :param num_sources: sources per field.
    :param wavelength: λ (fraction of L).
    :param coherence_length: envelope s (fraction of L).
    """

    num_sources: int = attrs.field(default=2, validator=_at_least(1))
    wavelength: float = attrs.field(default=0.25, validator=positive)
    coherence_length: float = attrs.field(default=1.5, validator=positive)


@attrs.frozen
class CellPopulationConfig:
    """Hard-core disks (cells) placed by random sequential adsorption, optionally clustered.

    Channels: cell bodies (soft disks, 1 inside), cell density (Gaussian kernel estimate, σ =
    ``density_length``, scaled to max 1), then per-cell marker levels U(0, 1) painted on the bodies
    (independent markers for each further channel).

    :param num_cells: cells wanted (fewer when they do not fit: ``5·num_cells`` candidates are tried).
    :param cell_radius: R (fraction of L); centres are at least 2R apart.
    :param clustering: probability that a candidate is drawn near one of ``max(1, num_cells // 10)`` cluster
        centres (normal offset, σ = 0.1 L) rather than uniformly.
    :param density_length: σ of the density channel (fraction of L).
    """

    num_cells: int = attrs.field(default=50, validator=_at_least(1))
    cell_radius: float = attrs.field(default=0.04, validator=positive)
    clustering: float = attrs.field(default=0.5, validator=unit_interval)
    density_length: float = attrs.field(default=0.08, validator=positive)


@attrs.frozen
class ChromatinDomainConfig:
    """Chromatin contact-map–like structure.

    ``tad``: the diagonal is split into ``num_domains`` contiguous domains (sizes ∝ U(1 − v, 1 + v)); the
    field is ``Σ_d a_d·box_d(x)·box_d(y)`` with soft edges (``boundary_sharpness`` pixels⁻¹), symmetric on
    square grids. ``compartments``: A/B checkerboard ``sign(sin·sin)`` with wavelength in
    ``compartment_wavelength_range``. ``random``: one of the two per sample. Channels: independent
    interaction strengths a_d ~ U(−1, 1) (TAD) or compartment levels (AB) on the same domain layout.
    """

    mode: str = attrs.field(default="tad", validator=one_of("tad", "compartments", "random"))
    num_domains: int = attrs.field(default=5, validator=_at_least(1))
    size_variability: float = attrs.field(default=0.5, validator=[unit_interval, _below(1.0)])
    boundary_sharpness: float = attrs.field(default=3.0, validator=positive)
    compartment_wavelength_range: tuple[float, float] = attrs.field(
        default=(0.25, 0.6), converter=_tuple_of_floats, validator=_ordered_range()
    )


@attrs.frozen
class ShockFrontConfig:
    """A normal shock along a rotated coordinate, position U(0.2, 0.8) of the extent.

    Channels: density (post/pre = ``amplitude_ratio``), velocity (ratio 1/r: mass flux ρu conserved),
    pressure (Rankine–Hugoniot ratio for γ = ``gamma``), then passive tracers with jump ratios U(1, r).
    Each profile is ``A_pre + (A_post − A_pre)·½(1 + tanh(d/w))``, A_pre = 1, plus independent noise.

    :param amplitude_ratio: density ratio r, (γ−1)/(γ+1) < r < (γ+1)/(γ−1).
    :param shock_width: w (fraction of L).
    :param gamma: adiabatic index γ.
    :param noise_amplitude: std of the added GRF (correlation length 0.05).
    """

    amplitude_ratio: float = attrs.field(default=2.0, validator=positive)
    shock_width: float = attrs.field(default=0.03, validator=positive)
    gamma: float = attrs.field(default=1.4, validator=positive)
    noise_amplitude: float = attrs.field(default=0.05, validator=non_negative)

    @amplitude_ratio.validator
    def _check_ratio(self, attribute: attrs.Attribute[Any], value: float) -> None:
        if self.gamma <= 1.0:
            raise ValueError(f"'gamma' must be > 1: {self.gamma!r}")
        low, high = (self.gamma - 1) / (self.gamma + 1), (self.gamma + 1) / (self.gamma - 1)
        if not low < value < high:
            raise ValueError(
                f"'amplitude_ratio' must be in ({low:.4g}, {high:.4g}) for gamma={self.gamma}: {value!r}"
            )


@attrs.frozen
class GeneExpressionConfig:
    """Gene-expression levels, one gene per channel, each with its own spatial pattern, in [0, 1].

    Channel c: ``(1 − shared_weight)·pattern_c + shared_weight·shared + noise_level·ε``, then min–max scaled to
    [0, 1]; the pattern kind is drawn per channel from ``patterns``; ``shared`` is one smooth GRF common to all
    genes (co-regulation).

    :param patterns: kinds among ``gradient``, ``spots``, ``stripes``, ``radial``, ``uniform``.
    :param spot_wavelength_range: wavelength of spots / stripes (fraction of L).
    :param shared_weight: weight of the shared field.
    :param shared_length_scale: its correlation length (fraction of L).
    :param noise_level: std of the pixel noise (before scaling).
    """

    patterns: tuple[str, ...] = attrs.field(
        default=("gradient", "spots", "stripes", "radial", "uniform"),
        converter=_tuple_of_str,
        validator=_subset_of("gradient", "spots", "stripes", "radial", "uniform"),
    )
    spot_wavelength_range: tuple[float, float] = attrs.field(
        default=(0.1, 0.3), converter=_tuple_of_floats, validator=_ordered_range()
    )
    shared_weight: float = attrs.field(default=0.3, validator=unit_interval)
    shared_length_scale: float = attrs.field(default=0.15, validator=positive)
    noise_level: float = attrs.field(default=0.1, validator=non_negative)


# ---------------------------------------------------------------------------------------------------------
# Tier 4: research frontiers
# ---------------------------------------------------------------------------------------------------------


@attrs.frozen
class CoherentStateConfig:
    """Coherent-state packets ``α·exp(−r²/(2σ²))·cos(k·x + φ − θ_c)`` on a GRF background.

    Channel c shows the packet at phase θ_c = c·golden angle (the free phase rotation of a coherent state)
    over an independent background.

    :param alpha: packet amplitude α.
    :param sigma: envelope σ (fraction of L).
    :param wavenumber: |k| (cycles per L), random direction.
    :param num_modes: packets per field.
    :param background_variance: variance of the background GRF (0 = none).
    :param background_length_scale: its correlation length (fraction of L).
    """

    alpha: float = attrs.field(default=1.0, validator=positive)
    sigma: float = attrs.field(default=0.15, validator=positive)
    wavenumber: float = attrs.field(default=2.0, validator=non_negative)
    num_modes: int = attrs.field(default=1, validator=_at_least(1))
    background_variance: float = attrs.field(default=0.25, validator=non_negative)
    background_length_scale: float = attrs.field(default=0.1, validator=positive)


@attrs.frozen
class RelativisticWavePacketConfig:
    """Lorentz-contracted packet ψ = exp(−(γ²x'² + y'²)/(2σ²))·exp(i(k x' + φ)), γ = 1/√(1 − v²).

    x' is along the (random) direction of motion; the packet is contracted by γ along it. Channels as for
    :class:`QuantumWavePacketConfig`: Re ψ, Im ψ, |ψ|², then Re(ψ·e^{−iθ_c}).

    :param velocity: v in units of c, 0 <= v < 1.
    :param sigma: rest-frame width σ (fraction of L).
    :param momentum_range: k range (cycles per L).
    """

    velocity: float = attrs.field(default=0.5, validator=[non_negative, _below(1.0)])
    sigma: float = attrs.field(default=0.15, validator=positive)
    momentum_range: tuple[float, float] = attrs.field(
        default=(2.0, 8.0), converter=_tuple_of_floats, validator=_ordered_range(strict=False)
    )


@attrs.frozen
class MutualInformationConfig:
    """Channels sharing a latent field z: ``ch_c = √r·z + √(1 − r)·ε_c``, all unit variance.

    Any two channels have pointwise correlation r with I = −½·ln(1 − r²) = ``mutual_information`` nats.

    :param mutual_information: pointwise mutual information between any two channels (nats).
    :param correlation_type: structure of z: ``local`` (GRF, ℓ = length_scale/2), ``long_range`` (GRF,
        ℓ = 2·length_scale) or ``hierarchical`` (multiscale GRF at ℓ·{0.25, 0.5, 1, 2}).
    :param length_scale: base correlation length of z (fraction of L).
    :param noise_length_scale: correlation length of the channel-private fields ε_c (fraction of L).
    """

    mutual_information: float = attrs.field(default=0.5, validator=positive)
    correlation_type: str = attrs.field(
        default="local", validator=one_of("local", "long_range", "hierarchical")
    )
    length_scale: float = attrs.field(default=0.15, validator=positive)
    noise_length_scale: float = attrs.field(default=0.05, validator=positive)


@attrs.frozen
class RegulatoryNetworkConfig:
    """A gene-regulatory network embedded in space.

    Genes sit at random positions; their expressions follow ``x ← tanh(W x + noise·ε)`` for ``iterations``
    steps from a random start; the field is ``Σ_i x_i·exp(−|p − p_i|²/(2s²))``, scaled by its max |·|.
    Channels: the same network (W, positions) in different cells (independent starts and noise).

    :param num_genes: genes (nodes).
    :param topology: ``random`` (edge probability ``edge_probability``), ``scale_free`` (preferential
        attachment, 2 links per new node) or ``hub`` (one hub linked to all).
    :param edge_probability: edge probability of the random topology.
    :param iterations: tanh update steps.
    :param noise: std of ε per step.
    :param gene_width: s (fraction of L).
    """

    num_genes: int = attrs.field(default=10, validator=_at_least(2))
    topology: str = attrs.field(default="random", validator=one_of("random", "scale_free", "hub"))
    edge_probability: float = attrs.field(default=0.3, validator=unit_interval)
    iterations: int = attrs.field(default=5, validator=_at_least(0))
    noise: float = attrs.field(default=0.1, validator=non_negative)
    gene_width: float = attrs.field(default=0.15, validator=positive)


@attrs.frozen
class DLAClusterConfig:
    """Aggregation cluster grown on the pixel lattice (tip-biased Eden growth, DLA-like branching).

    Each step, an empty pixel with n occupied 8-neighbours joins with probability
    ``stickiness·exp(−branching·(n − 1))`` (growth favours tips, giving branched clusters), until
    ``cluster_fraction`` of the pixels are occupied. Channels: occupancy (0/1); growth time (1 at the seed,
    falling to 0 for the last pixels, 0 outside); then the occupancy blurred at ``halo_length·2^(c−2)``
    (the concentration halo).

    :param cluster_fraction: target share of occupied pixels.
    :param seed_shape: ``point`` (centre) or ``line`` (bottom row).
    :param stickiness: join probability of a tip pixel per step.
    :param branching: tip bias (0 = compact Eden cluster).
    :param halo_length: blur length of channel 2 (fraction of L).
    """

    cluster_fraction: float = attrs.field(default=0.12, validator=[positive, _below(1.0)])
    seed_shape: str = attrs.field(default="point", validator=one_of("point", "line"))
    stickiness: float = attrs.field(default=0.7, validator=[positive, unit_interval])
    branching: float = attrs.field(default=1.0, validator=non_negative)
    halo_length: float = attrs.field(default=0.03, validator=positive)


@attrs.frozen
class ErrorCorrectingCodeConfig:
    """Binary codewords shown as ±1 blocks, with channel noise.

    The grid is tiled with ``block_size``×``block_size`` pixel blocks (row-major; the last row / column of
    blocks is cropped); each block shows one code bit. Blocks are grouped into codewords of length n =
    ``codeword_length``; each carries k = max(1, ⌊n·code_rate⌋) message bits encoded by ``code``; then every
    bit is flipped with probability ``flip_rate``. Channels: independent messages through the same code.

    :param code: ``repetition`` (each message bit repeated), ``parity`` (single parity check: k = n − 1),
        ``random`` (random systematic linear code [I | P] over GF(2)).
    """

    block_size: int = attrs.field(default=8, validator=_at_least(1))
    codeword_length: int = attrs.field(default=8, validator=_at_least(2))
    code: str = attrs.field(default="repetition", validator=one_of("repetition", "parity", "random"))
    code_rate: float = attrs.field(default=0.5, validator=[positive, unit_interval])
    flip_rate: float = attrs.field(default=0.1, validator=unit_interval)
