"""Each initial-condition type against its definition (not just its shape), and the IC mixture."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest
import torch

from spinlock.core.config.components import InitialConditionRef
from spinlock.core.plugins import build_plugin_manager
from spinlock.core.registry import ComponentKind, UnknownComponentError
from spinlock.core.seeding import derive_seed
from spinlock.operators.ics import baseline, configs as cf, tier1, tier2, tier3, tier4
from spinlock.operators.ics.base import GOLDEN_ANGLE, sub_seed
from spinlock.operators.ics.mixture import assign_variants, default_mixture, generate_initial_conditions

SEEDS = list(range(100, 116))


def gen(generator, n: int = 16, channels: int = 1, size: int = 64, width: int | None = None):
    return generator(SEEDS[:n], channels=channels, height=size, width=width or size)


def radial_power(fields: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Ensemble-averaged power per integer |k| bin (cycles per L) of square fields ``(..., n, n)``."""
    n = fields.shape[-1]
    power = torch.fft.fft2(fields.double()).abs().pow(2).reshape(-1, n, n).mean(0)
    k = torch.fft.fftfreq(n, d=1.0 / n, dtype=torch.float64)
    kk = torch.sqrt(k[:, None] ** 2 + k[None, :] ** 2)
    bins = torch.round(kk).long()
    kmax = n // 2
    p = np.array([power[bins == b].mean().item() for b in range(kmax + 1)])
    return np.arange(kmax + 1, dtype=float), p


def correlation_length(fields: torch.Tensor) -> float:
    """Lag (pixels) where the radially averaged autocorrelation falls to e^{-1/2}."""
    n = fields.shape[-1]
    x = fields.double() - fields.double().mean(dim=(-2, -1), keepdim=True)
    acf = torch.fft.ifft2(torch.fft.fft2(x).abs().pow(2)).real.reshape(-1, n, n).mean(0)
    acf = acf / acf[0, 0]
    lag = torch.fft.fftfreq(n, d=1.0 / n, dtype=torch.float64)
    rr = torch.sqrt(lag[:, None] ** 2 + lag[None, :] ** 2)
    bins = torch.round(rr).long()
    profile = np.array([acf[bins == b].mean().item() for b in range(n // 2)])
    target = math.exp(-0.5)
    i = int(np.argmax(profile < target))
    # linear interpolation between lags i-1 and i
    return (i - 1) + (profile[i - 1] - target) / (profile[i - 1] - profile[i])


def max_gradient(field: torch.Tensor) -> float:
    """Largest central-difference gradient magnitude (per pixel) of a 2-D field, away from the border."""
    gy = (field[2:, 1:-1] - field[:-2, 1:-1]) / 2
    gx = (field[1:-1, 2:] - field[1:-1, :-2]) / 2
    return float(torch.sqrt(gx**2 + gy**2).max())


def loglog_slope(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


# ---------------------------------------------------------------------------------------------------------
# Baseline
# ---------------------------------------------------------------------------------------------------------


def test_grf_correlation_length_tracks_length_scale() -> None:
    measured = []
    for ell in (0.05, 0.1, 0.2):
        fields = gen(baseline.GaussianRandomField(cf.GaussianRandomFieldConfig(length_scale=ell)))
        measured.append(correlation_length(fields))
        assert 0.75 < measured[-1] / (ell * 64) < 1.3, (ell, measured[-1])
    assert measured == sorted(measured)


def test_grf_spectrum_follows_the_gaussian_law_and_variance() -> None:
    ell, var = 0.1, 2.5
    fields = gen(
        baseline.GaussianRandomField(cf.GaussianRandomFieldConfig(length_scale=ell, variance=var)), n=16
    )
    k, p = radial_power(fields)
    use = (k >= 1) & (p > 1e-4 * p[1])
    slope = np.polyfit(k[use] ** 2, np.log(p[use]), 1)[0]
    assert slope == pytest.approx(-2 * math.pi**2 * ell**2, rel=0.15)
    assert float(fields.var()) == pytest.approx(var, rel=0.15)


def test_grf_matern_and_channel_correlation() -> None:
    cfg = cf.GaussianRandomFieldConfig(spectrum="matern", channel_correlation=0.6)
    fields = gen(baseline.GaussianRandomField(cfg), channels=2, size=32)
    r = np.corrcoef(fields[:, 0].flatten().numpy(), fields[:, 1].flatten().numpy())[0, 1]
    assert r == pytest.approx(0.6, abs=0.1)


def test_structured_single_circle_is_a_disk_of_allowed_radius() -> None:
    cfg = cf.StructuredConfig(num_structures=1, structure_types=("circle",), circle_radius_range=(0.1, 0.2))
    fields = gen(baseline.Structured(cfg), channels=3)
    for sample in fields:
        values = torch.unique(sample[0])
        assert len(values) == 2 and 0.0 in values  # a hard disk: 0 outside, one amplitude inside
        area = float((sample[0] != 0).sum()) / 64**2
        assert math.pi * 0.1**2 * 0.8 < area < math.pi * 0.2**2 * 1.2
        masks = [(sample[c] != 0) for c in range(3)]  # the same disk in every channel
        assert torch.equal(masks[0], masks[1]) and torch.equal(masks[0], masks[2])


def test_mixed_is_per_sample_grf_or_structured() -> None:
    cfg = cf.MixedConfig()
    fields, info = baseline.Mixed(cfg).sample(SEEDS, channels=1, height=32, width=32)
    grf = baseline.GaussianRandomField(cfg.grf)
    structured = baseline.Structured(cfg.structured)
    for i, seed in enumerate(SEEDS):
        source = grf if bool(info["is_grf"][i]) else structured
        tag = "mixed/grf" if bool(info["is_grf"][i]) else "mixed/structured"
        expected = source([sub_seed(seed, tag)], channels=1, height=32, width=32)[0]
        assert torch.equal(fields[i], expected)
    assert 0 < int(info["is_grf"].sum()) < len(SEEDS)
    all_grf = baseline.Mixed(cf.MixedConfig(grf_probability=1.0)).sample(
        SEEDS, channels=1, height=32, width=32
    )
    assert bool(all_grf[1]["is_grf"].all())


def test_multiscale_spectrum_is_the_weighted_sum_of_gaussians() -> None:
    scales, weights = (0.03, 0.2), (0.5, 0.5)
    fields = gen(baseline.MultiscaleGRF(cf.MultiscaleGRFConfig(scales=scales, weights=weights)))
    k, p = radial_power(fields)
    law = np.zeros_like(k)
    kk = np.fft.fftfreq(64, 1 / 64)
    full = np.sqrt(kk[:, None] ** 2 + kk[None, :] ** 2)
    for s, w in zip(scales, weights, strict=True):
        g = np.exp(-2 * math.pi**2 * s**2 * full**2)
        g[0, 0] = 0
        law += w * np.exp(-2 * math.pi**2 * s**2 * k**2) / g.sum()
    use = (k >= 1) & (k <= 20)
    assert loglog_slope(law[use], p[use]) == pytest.approx(1.0, abs=0.1)
    # a single GRF at the geometric-mean scale does not fit this law
    single = np.exp(-2 * math.pi**2 * 0.077**2 * k**2)
    assert abs(loglog_slope(single[use], p[use]) - 1.0) > 0.3


def test_localized_blob_has_its_drawn_width() -> None:
    cfg = cf.LocalizedConfig(num_blobs=1, width_range=(0.04, 0.1))
    fields, info = baseline.Localized(cfg).sample(SEEDS, channels=1, height=64, width=64)
    for i in range(len(SEEDS)):
        f = fields[i, 0].double()
        peak = f.flatten()[f.abs().argmax()]
        sigma_px = math.sqrt(float(f.sum() / peak) / (2 * math.pi))  # ∫ exp(−r²/2σ²) = 2πσ²
        assert sigma_px / 64 == pytest.approx(float(info["sigma"][i, 0]), rel=0.03)
        assert 0.04 <= float(info["sigma"][i, 0]) <= 0.1


def test_composite_noise_level_and_pattern_frequency() -> None:
    clean = gen(
        baseline.Composite(cf.CompositeConfig(pattern="waves", noise_level=0.0, frequency_range=(3, 3)))
    )
    noisy = gen(
        baseline.Composite(cf.CompositeConfig(pattern="waves", noise_level=0.3, frequency_range=(3, 3)))
    )
    assert float(clean.abs().max()) <= 1.0 + 1e-6
    assert float((noisy - clean).std()) == pytest.approx(0.3, rel=0.1)
    _, p = radial_power(clean)
    assert int(np.argmax(p)) == 3


@pytest.mark.parametrize("alpha", [1.5, 2.5])
def test_heavy_tailed_power_law_slope_and_no_dc(alpha: float) -> None:
    fields = gen(baseline.HeavyTailed(cf.HeavyTailedConfig(alpha=alpha)))
    k, p = radial_power(fields)
    use = (k >= 2) & (k <= 24)
    assert loglog_slope(k[use], p[use]) == pytest.approx(-alpha, abs=0.15)
    assert float(fields.mean(dim=(-2, -1)).abs().max()) < 1e-5  # no DC power
    assert float(fields.var()) == pytest.approx(1.0, rel=0.3)


# ---------------------------------------------------------------------------------------------------------
# Tier 1
# ---------------------------------------------------------------------------------------------------------


def test_wave_packet_density_is_modulus_squared() -> None:
    cfg = cf.QuantumWavePacketConfig(num_packets=2, momentum_range=(1.0, 3.0))
    fields = gen(tier1.QuantumWavePacket(cfg), n=4, channels=5)
    re, im, density = fields[:, 0], fields[:, 1], fields[:, 2]
    torch.testing.assert_close(density, re**2 + im**2, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(density.amax(dim=(-2, -1)), torch.ones(4), atol=1e-5, rtol=0)
    # the current channel j_x is Im(ψ* ∂ψ/∂x) up to one normalisation: compare with finite differences
    dre = (torch.roll(re, -1, -1) - torch.roll(re, 1, -1)) / 2
    dim_ = (torch.roll(im, -1, -1) - torch.roll(im, 1, -1)) / 2
    jx = (re * dim_ - im * dre)[..., 4:-4, 4:-4]
    for i in range(4):
        r = np.corrcoef(jx[i].flatten().numpy(), fields[i, 3, 4:-4, 4:-4].flatten().numpy())[0, 1]
        assert r > 0.99


@pytest.mark.parametrize(
    ("pattern", "wavelength"), [("stripes", 0.25), ("spots", 0.125), ("labyrinth", 0.25)]
)
def test_turing_pattern_peaks_at_critical_wavenumber(pattern: str, wavelength: float) -> None:
    cfg = cf.TuringPatternConfig(pattern_type=pattern, wavelength=wavelength, perturbation_amplitude=0.0)
    _, p = radial_power(gen(tier1.TuringPattern(cfg), n=4, channels=2))
    assert int(np.argmax(p)) == round(1 / wavelength)


def test_thermal_gradient_follows_power_law_ramp() -> None:
    cfg = cf.ThermalGradientConfig(
        direction="x", exponent=2.0, temperature_range=(1.0, 3.0), fluctuation_amplitude=0.0
    )
    fields = gen(tier1.ThermalGradient(cfg), n=8, channels=3, size=16, width=32)
    g = torch.arange(32, dtype=torch.float32) / 31
    up, down = 1.0 + 2.0 * g**2, 1.0 + 2.0 * (1 - g) ** 2
    for plane in fields.reshape(-1, 16, 32):
        row = plane[5]
        assert torch.allclose(row, up, atol=1e-5) or torch.allclose(row, down, atol=1e-5)
        assert torch.allclose(plane, row.expand_as(plane))


def test_morphogen_decays_with_channel_decay_lengths() -> None:
    cfg = cf.MorphogenGradientConfig(decay_length=0.2, channel_decay_ratio=1.5, noise_amplitude=0.0)
    fields, info = tier1.MorphogenGradient(cfg).sample(SEEDS[:4], channels=3, height=64, width=64)
    y = torch.arange(64, dtype=torch.float64)[:, None] / 64
    x = torch.arange(64, dtype=torch.float64)[None, :] / 64
    for i in range(4):
        sy, sx = (float(v) for v in info["sources"][i, 0])
        r = torch.sqrt((y - sy) ** 2 + (x - sx) ** 2).flatten().numpy()
        for c in range(3):
            slope = np.polyfit(r, np.log(fields[i, c].double().flatten().numpy()), 1)[0]
            assert -1 / slope == pytest.approx(0.2 * 1.5**c, rel=1e-3)


def test_reaction_front_has_the_prescribed_width() -> None:
    w = 0.08
    fields = gen(tier1.ReactionFront(cf.ReactionFrontConfig(front_width=w)), n=6, channels=3)
    for sample in fields:
        u = sample[0].double()
        assert 1.0 / (2 * max_gradient(u)) / 64 == pytest.approx(w, rel=0.05)  # max slope of ½(1+tanh(d/w))
        torch.testing.assert_close(sample[1], 1 - sample[0])
        torch.testing.assert_close(sample[2], 4 * sample[0] * (1 - sample[0]))


# ---------------------------------------------------------------------------------------------------------
# Tier 2
# ---------------------------------------------------------------------------------------------------------


def test_light_cone_fluctuations_vanish_outside_the_cone() -> None:
    cfg = cf.LightConeConfig(cone_radius=0.2, smoothing=0.02)
    fields, info = tier2.LightCone(cfg).sample(SEEDS[:6], channels=2, height=64, width=64)
    yy = torch.arange(64.0)[:, None] / 64
    xx = torch.arange(64.0)[None, :] / 64
    for i in range(6):
        cy, cx = (float(v) for v in info["centres"][i, 0])
        dy = yy - cy - torch.round(yy - cy)
        dx = xx - cx - torch.round(xx - cx)
        r = torch.sqrt(dy**2 + dx**2)
        outside, inside = r > 0.2 + 8 * 0.02, r < 0.2 - 4 * 0.02
        assert float(fields[i][:, outside].abs().max()) < 1e-3
        assert float(fields[i][:, inside].std()) > 0.3


def test_critical_fluctuations_follow_ornstein_zernike() -> None:
    xi, eta = 0.1, 0.25
    fields = gen(tier2.CriticalFluctuation(cf.CriticalFluctuationConfig(correlation_length=xi, eta=eta)))
    k, p = radial_power(fields)
    use = (k >= 1) & (k <= 24)
    law = ((2 * math.pi * k[use]) ** 2 + xi**-2) ** (-(2 - eta) / 2)
    assert loglog_slope(law, p[use]) == pytest.approx(1.0, abs=0.1)
    # far above 1/ξ the spectrum is the critical power law k^−(2−η)
    hi = (k >= 10) & (k <= 24)
    assert loglog_slope(k[hi], p[hi]) == pytest.approx(-(2 - eta), abs=0.25)


def test_phase_boundary_has_the_prescribed_interface_width() -> None:
    w = 0.06
    cfg = cf.PhaseBoundaryConfig(interface_width=w, fluctuation_amplitude=0.0)
    fields = gen(tier2.PhaseBoundary(cfg), n=4, channels=3)
    for plane in fields.reshape(-1, 64, 64):
        assert 1.0 / (math.sqrt(2) * max_gradient(plane.double())) / 64 == pytest.approx(w, rel=0.05)
        assert float(plane.abs().max()) <= 1.0


@pytest.mark.parametrize("pattern", ["target", "spiral"])
def test_bz_waves_have_the_prescribed_wavelength(pattern: str) -> None:
    cfg = cf.BZReactionConfig(pattern_type=pattern, wavelength=0.125)
    fields = gen(tier2.BZReaction(cfg), n=4, channels=3)
    _, p = radial_power(fields)
    assert int(np.argmax(p[2:])) + 2 == 8
    # the channels are phase-lagged copies of one oscillation: ch1 = cos(φ − g), ch0 = cos φ
    if pattern == "target":
        c0, c1 = fields[:, 0], fields[:, 1]
        s = (c0 * math.cos(GOLDEN_ANGLE) - c1) / math.sin(GOLDEN_ANGLE)  # = −sin φ
        torch.testing.assert_close(c0**2 + s**2, torch.ones_like(c0), atol=1e-4, rtol=0)


def test_shannon_entropy_local_entropy_matches_map() -> None:
    cfg = cf.ShannonEntropyConfig(entropy_range=(-1.0, 1.0), base_amplitude=0.0)
    fields, info = tier2.ShannonEntropy(cfg).sample(SEEDS, channels=2, height=64, width=64)
    h = info["entropy"][:, None].expand_as(fields).flatten()
    v = fields.flatten().double()
    edges = torch.linspace(-1, 1, 5)
    for lo, hi in itertools.pairwise(edges):
        sel = (h >= lo) & (h < hi)
        measured = 0.5 * math.log(2 * math.pi * math.e * float((v[sel] ** 2).mean()))
        assert measured == pytest.approx(float(h[sel].mean()), abs=0.06)


# ---------------------------------------------------------------------------------------------------------
# Tier 3
# ---------------------------------------------------------------------------------------------------------


def test_interference_fringes_at_the_wavelength() -> None:
    cfg = cf.InterferencePatternConfig(num_sources=2, wavelength=0.125, coherence_length=3.0)
    fields = gen(tier3.InterferencePattern(cfg), n=4, channels=2)
    _, p = radial_power(fields)
    assert int(np.argmax(p[3:])) + 3 == 8
    assert float(fields.abs().amax(dim=(-2, -1)).min()) == pytest.approx(1.0)


def test_cell_population_is_hard_core_with_requested_count() -> None:
    cfg = cf.CellPopulationConfig(num_cells=20, cell_radius=0.05)
    fields, info = tier3.CellPopulation(cfg).sample(SEEDS[:4], channels=3, height=64, width=64)
    assert bool((info["count"] == 20).all())
    for i in range(4):
        c = info["centres"][i].double()
        d = c[:, None] - c[None]
        d = d - torch.round(d)  # periodic, unit square
        dist = torch.sqrt((d**2).sum(-1)) + torch.eye(20) * 9
        assert float(dist.min()) >= 2 * 0.05 - 1e-6
        bodies = fields[i, 0]
        assert float(bodies.max()) <= 1.0 + 1e-6  # disjoint cells
        assert float(bodies.sum()) == pytest.approx(20 * math.pi * (0.05 * 64) ** 2, rel=0.1)
        assert float(fields[i, 1].max()) == pytest.approx(1.0)


def test_chromatin_tads_are_symmetric_blocks_with_drawn_strengths() -> None:
    cfg = cf.ChromatinDomainConfig(mode="tad", num_domains=4, boundary_sharpness=4.0)
    fields, info = tier3.ChromatinDomain(cfg).sample(SEEDS[:4], channels=3, height=64, width=64)
    torch.testing.assert_close(fields, fields.transpose(-1, -2))
    for i in range(4):
        bounds = [0.0, *info["bounds"][i].tolist()]
        for d in range(4):
            mid = round((bounds[d] + bounds[d + 1]) / 2 * 64 - 0.5)
            for c in range(3):
                assert float(fields[i, c, mid, mid]) == pytest.approx(
                    float(info["strength"][i, c, d]), abs=0.02
                )


def test_shock_jumps_follow_rankine_hugoniot_and_width() -> None:
    r, gamma, w = 3.0, 1.4, 0.05
    cfg = cf.ShockFrontConfig(amplitude_ratio=r, gamma=gamma, shock_width=w, noise_amplitude=0.0)
    fields = gen(tier3.ShockFront(cfg), n=4, channels=3)
    p_ratio = ((gamma + 1) * r - (gamma - 1)) / ((gamma + 1) - (gamma - 1) * r)
    for sample in fields.double():
        for c, ratio in enumerate((r, 1 / r, p_ratio)):
            lo, hi = float(sample[c].min()), float(sample[c].max())
            assert (hi / lo) == pytest.approx(max(ratio, 1 / ratio), rel=0.01)
        assert (r - 1) / (2 * max_gradient(sample[0])) / 64 == pytest.approx(w, rel=0.05)


def test_gene_expression_levels_and_shared_regulation() -> None:
    def mean_corr(weight: float) -> float:
        cfg = cf.GeneExpressionConfig(patterns=("uniform", "radial"), shared_weight=weight)
        f = gen(tier3.GeneExpression(cfg), n=8, channels=3, size=32)
        assert torch.equal(f.amin(dim=(-2, -1)), torch.zeros(8, 3))
        assert torch.equal(f.amax(dim=(-2, -1)), torch.ones(8, 3))
        return float(np.mean([np.corrcoef(s.reshape(3, -1).numpy())[0, 1:].mean() for s in f]))

    assert mean_corr(0.9) > mean_corr(0.2) + 0.2


# ---------------------------------------------------------------------------------------------------------
# Tier 4
# ---------------------------------------------------------------------------------------------------------


def test_coherent_state_envelope_amplitude_and_width() -> None:
    alpha, sigma = 2.0, 0.1
    cfg = cf.CoherentStateConfig(alpha=alpha, sigma=sigma, wavenumber=4.0, background_variance=0.0)
    fields = gen(tier4.CoherentState(cfg), n=4, channels=2).double()
    a, b, g = fields[:, 0], fields[:, 1], GOLDEN_ANGLE
    envelope = torch.sqrt((a**2 + b**2 - 2 * a * b * math.cos(g)).clamp(min=0) / math.sin(g) ** 2)
    for e in envelope:
        assert float(e.max()) == pytest.approx(alpha, rel=0.02)
        assert float(e.sum()) == pytest.approx(alpha * 2 * math.pi * (sigma * 64) ** 2, rel=0.03)


@pytest.mark.parametrize("velocity", [0.0, 0.8])
def test_relativistic_packet_is_lorentz_contracted(velocity: float) -> None:
    cfg = cf.RelativisticWavePacketConfig(velocity=velocity, sigma=0.1)
    fields = gen(tier4.RelativisticWavePacket(cfg), n=4, channels=3).double()
    torch.testing.assert_close(fields[:, 2], fields[:, 0] ** 2 + fields[:, 1] ** 2)
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    for density in fields[:, 2]:
        wgt = density / density.sum()
        my, mx = (wgt * yy).sum(), (wgt * xx).sum()
        cov = torch.tensor(
            [
                [(wgt * (yy - my) ** 2).sum(), (wgt * (yy - my) * (xx - mx)).sum()],
                [(wgt * (yy - my) * (xx - mx)).sum(), (wgt * (xx - mx) ** 2).sum()],
            ]
        )
        ev = torch.linalg.eigvalsh(cov)
        assert math.sqrt(float(ev[0] / ev[1])) == pytest.approx(math.sqrt(1 - velocity**2), rel=0.03)


@pytest.mark.parametrize("kind", ["local", "long_range", "hierarchical"])
def test_mutual_information_between_channels(kind: str) -> None:
    info_nats = 0.4
    cfg = cf.MutualInformationConfig(mutual_information=info_nats, correlation_type=kind)
    fields = gen(tier4.MutualInformation(cfg), n=16, channels=3, size=32)
    r = np.corrcoef(fields[:, 0].flatten().numpy(), fields[:, 2].flatten().numpy())[0, 1]
    assert -0.5 * math.log(1 - r**2) == pytest.approx(info_nats, rel=0.2)


def test_regulatory_network_field_is_spanned_by_its_genes() -> None:
    cfg = cf.RegulatoryNetworkConfig(num_genes=3, topology="scale_free")
    fields, _ = tier4.RegulatoryNetwork(cfg).sample(SEEDS[:3], channels=6, height=32, width=32)
    for i in range(3):
        assert int(torch.linalg.matrix_rank(fields[i].reshape(6, -1).double(), rtol=1e-6)) == 3
        assert float(fields[i].abs().max()) == pytest.approx(1.0)
    hub = tier4.RegulatoryNetwork(cf.RegulatoryNetworkConfig(num_genes=5, topology="hub"))
    adj = hub.sample([1], channels=1, height=16, width=16)[1]["adjacency"][0]
    assert int(adj.sum()) == 8 and bool(adj[0, 1:].all())


def test_dla_cluster_is_connected_and_has_target_size() -> None:
    from scipy import ndimage

    cfg = cf.DLAClusterConfig(cluster_fraction=0.1)
    fields = gen(tier4.DLACluster(cfg), n=4, channels=3, size=32)
    for sample in fields:
        occupied = sample[0].numpy() > 0.5
        assert occupied.sum() == math.ceil(0.1 * 32 * 32)
        _, n_components = ndimage.label(occupied, structure=np.ones((3, 3)))
        assert n_components == 1
        assert float(sample[1, 16, 16]) == 1.0  # the seed is the oldest pixel
        assert bool(((sample[1] > 0) == torch.from_numpy(occupied)).all())


def test_error_correcting_code_blocks_flip_rate_and_parity() -> None:
    bs = 4
    noisy = gen(
        tier4.ErrorCorrectingCode(cf.ErrorCorrectingCodeConfig(block_size=bs, flip_rate=0.2)),
        channels=2,
        size=32,
    )
    clean = gen(
        tier4.ErrorCorrectingCode(cf.ErrorCorrectingCodeConfig(block_size=bs, flip_rate=0.0)),
        channels=2,
        size=32,
    )
    blocks = noisy.reshape(16, 2, 8, bs, 8, bs)
    assert bool((blocks == blocks[:, :, :, :1, :, :1]).all())  # each block is one bit
    assert set(torch.unique(noisy).tolist()) == {-1.0, 1.0}
    flipped = float((noisy != clean).double().mean())
    assert flipped == pytest.approx(0.2, abs=0.03)
    # the clean repetition code repeats each of its 4 message bits twice per codeword of 8 blocks
    bits = clean[..., ::bs, ::bs].reshape(16, 2, -1, 8)
    torch.testing.assert_close(bits[..., 0::2], bits[..., 1::2])
    parity = gen(
        tier4.ErrorCorrectingCode(cf.ErrorCorrectingCodeConfig(block_size=bs, code="parity", flip_rate=0)),
        channels=1,
        size=32,
    )
    words = ((parity[..., ::bs, ::bs].reshape(16, -1, 8) + 1) / 2).sum(-1)
    assert bool((torch.remainder(words, 2) == 0).all())


# ---------------------------------------------------------------------------------------------------------
# Mixture
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry():
    return build_plugin_manager(strict=True).components[ComponentKind.INITIAL_CONDITION]


MIXTURE = {
    "grf_short": InitialConditionRef(
        kind="gaussian_random_field", params=cf.GaussianRandomFieldConfig(length_scale=0.05), weight=1.0
    ),
    "grf_long": InitialConditionRef(
        kind="gaussian_random_field", params=cf.GaussianRandomFieldConfig(length_scale=0.3), weight=2.0
    ),
    "fronts": InitialConditionRef(kind="reaction_front", params=cf.ReactionFrontConfig(), weight=5.0),
}


@pytest.mark.parametrize("m", [3, 6, 9])
def test_mixture_shares_are_exact_on_power_of_two_prefixes(m: int) -> None:
    n = 2**m
    counts = Counter(assign_variants(MIXTURE, range(n), root_seed=7))
    for name, share in (("grf_short", 1 / 8), ("grf_long", 2 / 8), ("fronts", 5 / 8)):
        assert abs(counts[name] - n * share) <= 1


def test_mixture_assignment_is_deterministic_and_batch_independent() -> None:
    whole = assign_variants(MIXTURE, range(100), root_seed=3)
    assert whole == assign_variants(MIXTURE, range(100), root_seed=3)
    parts = assign_variants(MIXTURE, range(50), 3) + assign_variants(MIXTURE, range(50, 100), 3)
    assert parts == whole
    scattered = [97, 3, 50, 12]
    assert assign_variants(MIXTURE, scattered, 3) == [whole[i] for i in scattered]
    assert assign_variants(MIXTURE, range(100), root_seed=4) != whole


def test_generate_mixture_records_variants_and_kinds(registry) -> None:
    indices = [9, 2, 31, 4, 17, 8]
    fields, variants, kinds = generate_initial_conditions(
        MIXTURE, registry, indices, 5, channels=2, height=32, width=32
    )
    assert fields.shape == (6, 2, 32, 32)
    assert variants == assign_variants(MIXTURE, indices, 5)
    assert kinds == [MIXTURE[v].kind for v in variants]
    for pos, (index, variant) in enumerate(zip(indices, variants, strict=True)):
        ref = MIXTURE[variant]
        expected = registry.get(ref.kind).build(ref.params)(
            [derive_seed(5, index, "ic")], channels=2, height=32, width=32
        )[0]
        assert torch.equal(fields[pos], expected)  # the variant's own params were used
        alone = generate_initial_conditions(MIXTURE, registry, [index], 5, channels=2, height=32, width=32)[0]
        assert torch.equal(alone[0], fields[pos])


def test_unknown_kind_is_reported_with_a_suggestion(registry) -> None:
    bad = {"x": InitialConditionRef(kind="gaussian_random_feild", params=None)}
    with pytest.raises(UnknownComponentError, match="did you mean 'gaussian_random_field'"):
        generate_initial_conditions(bad, registry, [0], 0, channels=1, height=16, width=16)
    with pytest.raises(UnknownComponentError):
        generate_initial_conditions(bad, {}, [0], 0, channels=1, height=16, width=16)


def test_default_mixture_is_all_28_equally_weighted(registry) -> None:
    mixture = default_mixture()
    assert len(mixture) == 28 and {ref.weight for ref in mixture.values()} == {1.0}
    _, variants, kinds = generate_initial_conditions(
        None, registry, range(8), 0, channels=1, height=16, width=16
    )
    assert variants == kinds and set(variants) <= set(mixture)
    counts = Counter(assign_variants(mixture, range(1024), 0))
    # 1/28 is not dyadic: each interval holds its whole elementary intervals plus at most two cut ones
    assert len(counts) == 28 and all(abs(c - 1024 / 28) < 2 for c in counts.values())
