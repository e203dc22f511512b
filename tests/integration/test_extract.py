"""`spinlock extract`: offline features from a stored dataset equal the inline ones; bad input exits 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spinlock.core.config import dump_run_config, load_run_config
from spinlock.core.plugins import build_plugin_manager
from spinlock.core.storage import DatasetWriter, open_dataset, validate_dataset
from spinlock.operators.generation.pipeline import ComputePlan, generate

CONFIG = """
seed: 11
n_operators: 8
grid: {height: 16, width: 16, channels: 2}
parameter_space: {num_layers: {type: integer, low: 2, high: 3}}
operator: {kind: cnn, params: {base_channels: 4}}
initial_conditions: {grf: {kind: gaussian_random_field}}
rollout: {steps: 4, realizations: 2}
features: [{kind: initial}, {kind: temporal}]
storage: {store_trajectories: STORE}
"""


def make(folder: Path, store: bool) -> Path:
    manager = build_plugin_manager(strict=True)
    (folder / "run.yaml").write_text(CONFIG.replace("STORE", "true" if store else "false"))
    config = load_run_config(folder / "run.yaml", manager)
    out = folder / "d.h5"
    generate(config, dump_run_config(config, manager), out, manager, plan=ComputePlan(batch_size=4))
    return out


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    code = "from spinlock.core.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)


def test_offline_extraction_reproduces_inline_values_and_adds_families(tmp_path):
    path = make(tmp_path, store=True)
    with open_dataset(path) as d:
        inline = {name: d.features(name).values.copy() for name in ("initial", "temporal")}
    result = run_cli("extract", str(path), "--families", "initial,temporal,architecture", "-q")
    assert result.returncode == 0, result.stderr
    assert validate_dataset(path) == []
    with open_dataset(path) as d:
        assert set(d.feature_families()) == {"initial", "temporal", "architecture"}
        for name, values in inline.items():
            np.testing.assert_allclose(d.features(name).values, values, rtol=1e-5, atol=1e-6)
        assert np.isfinite(d.features("architecture").values).all()


def test_trajectory_family_without_stored_trajectories_is_refused(tmp_path):
    path = make(tmp_path, store=False)
    result = run_cli("extract", str(path), "--families", "temporal")
    assert result.returncode == 2
    assert "needs trajectories" in result.stderr and "Traceback" not in result.stderr
    with open_dataset(path) as d:  # nothing already written was lost
        assert np.isfinite(d.features("temporal").values).all()


@pytest.mark.parametrize(("args", "expected"), [(["-f", "nope"], "unknown feature_family 'nope'")])
def test_unknown_family_and_foreign_file_exit_2(tmp_path, args, expected):
    path = make(tmp_path, store=True)
    result = run_cli("extract", str(path), *args)
    assert result.returncode == 2 and expected in result.stderr
    foreign = tmp_path / "foreign.txt"
    foreign.write_text("not hdf5")
    result = run_cli("extract", str(foreign))
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_write_features_checks_family_and_shape(tmp_path):
    path = make(tmp_path, store=True)
    with DatasetWriter.open_for_extraction(path) as writer:
        with pytest.raises(ValueError, match="not declared"):
            writer.write_features("missing", [0], np.zeros((1, 3), np.float32))
        writer.replace_features("extra", ["a", "b"], "1", "test")
        with pytest.raises(ValueError):
            writer.write_features("extra", [0], np.zeros((1, 3), np.float32))
        writer.write_features("extra", [2, 0], np.array([[1, 2], [3, 4]], np.float32))
    with open_dataset(path) as d:
        values = d.features("extra").values
        assert values[0].tolist() == [3, 4] and values[2].tolist() == [1, 2] and np.isnan(values[1]).all()
