"""Generation with inline features: stored values equal an offline extraction of the stored trajectories."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spinlock.core.config import dump_run_config, load_run_config
from spinlock.core.plugins import build_plugin_manager
from spinlock.core.storage import open_dataset, validate_dataset
from spinlock.features.api import extract
from spinlock.operators.generation.pipeline import ComputePlan, generate

CONFIG = """
seed: 3
n_operators: 8
grid: {height: 16, width: 16, channels: 3}
parameter_space:
  num_layers: {type: integer, low: 2, high: 3}
  update_policy: {type: choice, choices: [residual, convex]}
  noise_scale: {type: continuous, low: 1.0e-3, high: 0.1, log: true}
operator: {kind: cnn, params: {base_channels: 4}}
initial_conditions: {grf: {kind: gaussian_random_field}, turing: {kind: turing_pattern}}
rollout: {steps: 6, realizations: 2}
features: [{kind: initial}, {kind: architecture}, {kind: summary}, {kind: temporal}]
storage: {store_trajectories: true, trajectory_stride: 2}
"""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    manager = build_plugin_manager(strict=True)
    folder = tmp_path_factory.mktemp("inline")
    (folder / "run.yaml").write_text(CONFIG)
    config = load_run_config(folder / "run.yaml", manager)
    out = folder / "d.h5"
    generate(config, dump_run_config(config, manager), out, manager, plan=ComputePlan(batch_size=4))
    return out


def test_inline_features_are_stored_with_names_versions_and_providers(dataset):
    assert validate_dataset(dataset) == []
    with open_dataset(dataset) as d:
        assert set(d.feature_families()) == {"initial", "architecture", "summary", "temporal"}
        temporal = d.features("temporal")
        assert temporal.values.shape[:2] == (8, 3)  # T' = ceil(6 / 2)
        assert len(temporal.names) == temporal.values.shape[2] and temporal.version == "1.0"
        for family in ("initial", "architecture", "summary", "temporal"):
            assert np.isfinite(d.features(family).values).all()


def test_inline_equals_offline_extraction(dataset):
    with open_dataset(dataset) as d:
        trajectories, ics = d.trajectories(), d.initial_conditions()
        stored_temporal, stored_initial = d.features("temporal"), d.features("initial")
        parameters, space = d.parameters(), d.parameter_space
        stored_architecture = d.features("architecture")
        stored_summary = d.features("summary")
    values, columns = extract("temporal", trajectory=trajectories)
    assert list(columns.names) == list(stored_temporal.names)
    np.testing.assert_allclose(values, stored_temporal.values, rtol=1e-5, atol=1e-6)
    values, _ = extract("initial", initial_condition=ics)
    np.testing.assert_allclose(values, stored_initial.values, rtol=1e-5, atol=1e-6)
    values, _ = extract("architecture", parameters=parameters, parameter_space=space)
    np.testing.assert_allclose(values, stored_architecture.values, rtol=1e-6)
    # SUMMARY shares TEMPORAL's per-frame statistics inline; alone it must give the same values
    values, columns = extract("summary", trajectory=trajectories, time_stride=2)
    assert list(columns.names) == list(stored_summary.names)
    np.testing.assert_allclose(values, stored_summary.values, rtol=1e-4, atol=1e-5)


VARIED = """
seed: 11
n_operators: 32
grid: {height: 16, width: 16, channels: 3}
parameter_space:
  num_layers: {type: integer, low: 1, high: 3}
  kernel_size: {type: choice, choices: [3, 5]}
  activation: {type: choice, choices: [gelu, tanh, relu]}
  update_policy: {type: choice, choices: [residual, convex, autoregressive]}
  noise_scale: {type: continuous, low: 1.0e-4, high: 0.1, log: true}
operator: {kind: cnn, params: {base_channels: 4}}
initial_conditions:
  grf: {kind: gaussian_random_field}
  turing: {kind: turing_pattern}
  structured: {kind: structured}
  heavy_tailed: {kind: heavy_tailed}
  front: {kind: reaction_front}
  packet: {kind: quantum_wave_packet}
rollout: {steps: 8, realizations: 3}
features: [{kind: initial}, {kind: architecture}, {kind: summary}, {kind: temporal}]
storage: {store_trajectories: false}
"""


def test_every_column_varies_across_a_generated_varied_set(tmp_path):
    """Issue 5: no feature is constant across a diverse dataset (BUG-14)."""
    manager = build_plugin_manager(strict=True)
    (tmp_path / "run.yaml").write_text(VARIED)
    config = load_run_config(tmp_path / "run.yaml", manager)
    out = tmp_path / "varied.h5"
    generate(config, dump_run_config(config, manager), out, manager, plan=ComputePlan(batch_size=16))
    with open_dataset(out) as d:
        ok = np.asarray(d.status()) == "ok"
        assert ok.sum() >= 24
        for family in ("initial", "architecture", "summary", "temporal"):
            stored = d.features(family)
            values = stored.values[ok].reshape(int(ok.sum()), -1, len(stored.names))
            spread = np.nanstd(values, axis=(0, 1))
            constant = [n for n, s in zip(stored.names, spread, strict=True) if not s > 0]
            assert not constant, (family, constant)
