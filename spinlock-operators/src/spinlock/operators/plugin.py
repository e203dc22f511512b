"""Entry point of spinlock-operators in the `spinlock` plugin group.

Components are registered here with lazy `"module:attr"` factories so that loading the plugin imports no torch.
"""

from __future__ import annotations

from typing import Any

from spinlock.core import hookimpl
from spinlock.operators.block_registration import (
    spinlock_register_operator_blocks as spinlock_register_operator_blocks,
)
from spinlock.operators.ics import configs as c

TIER_NAMES = ("baseline", "foundational", "specialized", "complex_systems", "research_frontiers")

_IC = "spinlock.operators.ics"

#: (name, config class, "module:attr" factory, tier, one-line summary, channel semantics)
INITIAL_CONDITIONS: tuple[tuple[str, type, str, int, str, str], ...] = (
    # baseline
    ("gaussian_random_field", c.GaussianRandomFieldConfig, f"{_IC}.baseline:GaussianRandomField", 0,
     "Stationary Gaussian random field whose length_scale is its correlation length", "independent"),
    ("structured", c.StructuredConfig, f"{_IC}.baseline:Structured", 0,
     "Superposed disks, stripes and Gaussian blobs with per-channel amplitudes", "mixtures"),
    ("mixed", c.MixedConfig, f"{_IC}.baseline:Mixed", 0,
     "Per sample either a Gaussian random field or a structured field", "as chosen type"),
    ("multiscale_grf", c.MultiscaleGRFConfig, f"{_IC}.baseline:MultiscaleGRF", 0,
     "Sum of Gaussian random fields at several correlation lengths", "independent"),
    ("localized", c.LocalizedConfig, f"{_IC}.baseline:Localized", 0,
     "Gaussian blobs at random positions with per-channel amplitudes", "mixtures"),
    ("composite", c.CompositeConfig, f"{_IC}.baseline:Composite", 0,
     "Waves, grid or radial pattern plus correlated noise", "phase-shifted"),
    ("heavy_tailed", c.HeavyTailedConfig, f"{_IC}.baseline:HeavyTailed", 0,
     "Gaussian field with a power-law k^-alpha spectrum and no DC power", "independent"),
    # tier 1
    ("quantum_wave_packet", c.QuantumWavePacketConfig, f"{_IC}.tier1:QuantumWavePacket", 1,
     "Gaussian wave packets: Re psi, Im psi, |psi|^2, probability current", "Re, Im, density, current"),
    ("turing_pattern", c.TuringPatternConfig, f"{_IC}.tier1:TuringPattern", 1,
     "Spots, stripes or labyrinths at a critical wavelength plus perturbation", "translated copies + noise"),
    ("thermal_gradient", c.ThermalGradientConfig, f"{_IC}.tier1:ThermalGradient", 1,
     "Power-law temperature ramps along random directions with fluctuations", "independent"),
    ("morphogen_gradient", c.MorphogenGradientConfig, f"{_IC}.tier1:MorphogenGradient", 1,
     "Morphogens decaying from point sources, one decay length per channel", "distinct morphogens"),
    ("reaction_front", c.ReactionFrontConfig, f"{_IC}.tier1:ReactionFront", 1,
     "tanh reaction fronts of prescribed width (planar, circular, irregular)", "product, reactant, zone"),
    # tier 2
    ("light_cone", c.LightConeConfig, f"{_IC}.tier2:LightCone", 2,
     "Random fluctuations confined to smooth causal disks", "independent"),
    ("critical_fluctuation", c.CriticalFluctuationConfig, f"{_IC}.tier2:CriticalFluctuation", 2,
     "Ornstein-Zernike critical fluctuations with correlation length xi and exponent eta", "independent"),
    ("phase_boundary", c.PhaseBoundaryConfig, f"{_IC}.tier2:PhaseBoundary", 2,
     "tanh interfaces between two phases with fluctuations", "independent interfaces"),
    ("bz_reaction", c.BZReactionConfig, f"{_IC}.tier2:BZReaction", 2,
     "Belousov-Zhabotinsky spiral, target or turbulent waves", "phase-lagged species"),
    ("shannon_entropy", c.ShannonEntropyConfig, f"{_IC}.tier2:ShannonEntropy", 2,
     "Noise whose local differential entropy follows a prescribed map", "independent, shared map"),
    # tier 3
    ("interference_pattern", c.InterferencePatternConfig, f"{_IC}.tier3:InterferencePattern", 3,
     "Interference of circular waves from point sources", "per-channel source phases"),
    ("cell_population", c.CellPopulationConfig, f"{_IC}.tier3:CellPopulation", 3,
     "Hard-core cell populations: bodies, density and marker levels", "bodies, density, markers"),
    ("chromatin_domain", c.ChromatinDomainConfig, f"{_IC}.tier3:ChromatinDomain", 3,
     "Contact-map-like TAD blocks or A/B compartment checkerboards", "independent strengths"),
    ("shock_front", c.ShockFrontConfig, f"{_IC}.tier3:ShockFront", 3,
     "Normal shock with Rankine-Hugoniot jumps in density, velocity, pressure", "density, velocity, pressure"),
    ("gene_expression", c.GeneExpressionConfig, f"{_IC}.tier3:GeneExpression", 3,
     "Gene expression patterns in [0, 1] with shared co-regulation", "one gene per channel"),
    # tier 4
    ("coherent_state", c.CoherentStateConfig, f"{_IC}.tier4:CoherentState", 4,
     "Coherent-state wave packets on a random background", "phase-rotated"),
    ("relativistic_wave_packet", c.RelativisticWavePacketConfig, f"{_IC}.tier4:RelativisticWavePacket", 4,
     "Lorentz-contracted wave packet (contraction 1/gamma along motion)", "Re, Im, density"),
    ("mutual_information", c.MutualInformationConfig, f"{_IC}.tier4:MutualInformation", 4,
     "Channels sharing a latent field with prescribed pairwise mutual information", "correlated"),
    ("regulatory_network", c.RegulatoryNetworkConfig, f"{_IC}.tier4:RegulatoryNetwork", 4,
     "Expression states of a random gene-regulatory network embedded in space", "cells of one network"),
    ("dla_cluster", c.DLAClusterConfig, f"{_IC}.tier4:DLACluster", 4,
     "Branched aggregation cluster: occupancy, growth time and halo", "occupancy, time, halos"),
    ("error_correcting_code", c.ErrorCorrectingCodeConfig, f"{_IC}.tier4:ErrorCorrectingCode", 4,
     "Codewords of a block code as +-1 pixel blocks with bit flips", "independent messages"),
)  # fmt: skip


@hookimpl
def spinlock_register_initial_conditions(registry: Any) -> None:
    """Register the 28 initial-condition types (5 tiers)."""
    for name, config_cls, factory, tier, summary, _channels in INITIAL_CONDITIONS:
        registry.add(
            name,
            config_cls=config_cls,
            factory=factory,
            summary=summary,
            metadata={"tier": tier, "tier_name": TIER_NAMES[tier], "channels": "any"},
        )


@hookimpl
def spinlock_register_commands(app: Any) -> None:
    """``spinlock generate`` and ``spinlock visualize ic-types``."""
    from spinlock.operators.gallery_cli import register_visualize
    from spinlock.operators.generation.cli import register

    register(app)
    register_visualize(app)
