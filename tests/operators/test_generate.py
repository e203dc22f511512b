"""`spinlock generate`: the layout it writes, the determinism contract, resume after SIGKILL, bad input."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from spinlock.core.config import RunConfig, dump_run_config, load_run_config
from spinlock.core.defaults import quick_config_path
from spinlock.core.plugins import build_plugin_manager
from spinlock.core.storage import open_dataset, validate_dataset
from spinlock.operators.generation.pipeline import ComputePlan, generate, replay_operators

ROOT = Path(__file__).resolve().parents[2]

TINY = """
seed: 5
n_operators: 16
grid: {height: 16, width: 16, channels: 2}
parameter_space:
  num_layers: {type: integer, low: 2, high: 3}
  dropout_rate: {type: continuous, low: 0.0, high: 0.3}
  update_policy: {type: choice, choices: [residual, convex, autoregressive]}
  noise_scale: {type: continuous, low: 1.0e-3, high: 0.1, log: true}
operator: {kind: cnn, params: {base_channels: 4}}
initial_conditions:
  grf: {kind: gaussian_random_field, params: {length_scale: 0.1}, weight: 3}
  front: {kind: reaction_front}
rollout: {steps: 5, realizations: 2, noise: {type: laplace, correlation_length: 1.5}}
storage: {store_trajectories: true, trajectory_stride: 2}
"""


@pytest.fixture(scope="module")
def manager():
    return build_plugin_manager(strict=True)


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    code = "from spinlock.core.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)


def contents(path: Path) -> dict[str, bytes]:
    """Every dataset's bytes and every attribute, keyed by HDF5 path (object-header timestamps excluded)."""
    out: dict[str, bytes] = {}
    with h5py.File(path, "r") as f:
        for key, value in f.attrs.items():
            out[f"/@{key}"] = repr(value).encode()

        def visit(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Dataset):
                values = obj[...]
                out[name] = repr(values.tolist()).encode() if values.dtype.kind == "O" else values.tobytes()
            for key, value in obj.attrs.items():  # type: ignore[attr-defined]
                out[f"{name}@{key}"] = repr(value).encode()

        f.visititems(visit)
    return out


def make(config_path: Path, out: Path, manager, **plan: object) -> None:
    config = load_run_config(config_path, manager)
    generate(config, dump_run_config(config, manager), out, manager, plan=ComputePlan(**plan))  # type: ignore[arg-type]


def test_generate_writes_a_valid_dataset_with_the_documented_layout(tiny_config, tmp_path, manager):
    out = tmp_path / "d.h5"
    make(tiny_config, out, manager, batch_size=4)
    assert validate_dataset(out) == []
    with open_dataset(out) as d:
        assert d.n_operators == 16 and d.done().all()
        assert d.parameter_names == ["num_layers", "dropout_rate", "update_policy", "noise_scale"]
        assert d.initial_conditions().shape == (16, 2, 16, 16)
        assert d.trajectories().shape == (16, 2, 3, 2, 16, 16)  # T' = ceil(5 / 2)
        assert set(d.ic_types()) <= {"grf", "front"} and set(d.ic_kinds()) <= {
            "gaussian_random_field",
            "reaction_front",
        }
        assert np.array_equal(
            d.trajectories()[:, :, 0], np.repeat(d.initial_conditions()[:, None], 2, axis=1)
        )
        assert d.compute_plan == {
            "batch_size": 4,
            "device": "cpu",
            "precision": "float32",
            "threads": torch.get_num_threads(),
        }
        assert "spinlock-operators" in d.provenance
        assert set(d.status()) <= {"ok", "diverged"}
        trajectories = d.trajectories()
        assert np.isfinite(trajectories).all()
        # realizations differ (independent noise streams), operators differ
        assert not np.array_equal(trajectories[:, 0, -1], trajectories[:, 1, -1])


def test_same_config_and_plan_is_bit_identical_across_processes(tiny_config, tmp_path, manager):
    make(tiny_config, tmp_path / "a.h5", manager, batch_size=4)
    result = run_cli(
        "generate", "-c", str(tiny_config), "-o", str(tmp_path / "b.h5"), "--batch-size", "4", "-q"
    )
    assert result.returncode == 0, result.stderr
    assert contents(tmp_path / "a.h5") == contents(tmp_path / "b.h5")


def test_batch_size_changes_results_only_within_tolerance(tiny_config, tmp_path, manager):
    for batch_size in (1, 8, 32):
        make(tiny_config, tmp_path / f"b{batch_size}.h5", manager, batch_size=batch_size)
    with open_dataset(tmp_path / "b1.h5") as one:
        reference = one.initial_conditions(), one.trajectories(), one.status()
    for batch_size in (8, 32):
        with open_dataset(tmp_path / f"b{batch_size}.h5") as other:
            np.testing.assert_array_equal(other.initial_conditions(), reference[0])
            np.testing.assert_allclose(other.trajectories(), reference[1], rtol=1e-4, atol=1e-5)
            assert other.status() == reference[2]


def test_single_operator_replay_is_bit_identical(tiny_config, tmp_path, manager):
    out = tmp_path / "d.h5"
    make(tiny_config, out, manager, batch_size=4)
    replayed = replay_operators(out, [3, 11], manager)
    with open_dataset(out) as d:
        stored = d.trajectories([3, 11])
    assert np.array_equal(replayed[3]["trajectories"], stored[0])
    assert np.array_equal(replayed[11]["trajectories"], stored[1])


KILLER = """
import os, signal, sys
from spinlock.core.config import dump_run_config, load_run_config
from spinlock.core.plugins import build_plugin_manager
from spinlock.operators.generation.pipeline import ComputePlan, generate
from spinlock.operators.generation.progress import NullProgress

class KillAfter(NullProgress):
    def __init__(self, batches):
        self.left = batches
    def advance(self, n):
        self.left -= 1
        if self.left == 0:
            os.kill(os.getpid(), signal.SIGKILL)

manager = build_plugin_manager()
config = load_run_config(sys.argv[1], manager)
generate(config, dump_run_config(config, manager), sys.argv[2], manager,
         plan=ComputePlan(batch_size=2), progress=KillAfter(int(sys.argv[3])))
"""


@pytest.mark.parametrize("kill_after", [1, 4])
def test_resume_after_sigkill_gives_an_identical_dataset(tiny_config, tmp_path, manager, kill_after):
    reference = tmp_path / "reference.h5"
    make(tiny_config, reference, manager, batch_size=2)
    killed = tmp_path / "killed.h5"
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, str(tiny_config), str(killed), str(kill_after)], check=False
    )
    assert proc.returncode == -signal.SIGKILL
    with open_dataset(killed) as d:
        assert 0 < d.done().sum() < 16
    result = run_cli("generate", "-o", str(killed), "--resume", "--batch-size", "2", "-q", "--json")
    assert result.returncode == 0, result.stderr
    assert validate_dataset(killed) == []
    assert contents(killed)["trajectories/fields"] == contents(reference)["trajectories/fields"]
    assert contents(killed) == contents(reference)


def test_divergence_is_recorded_and_never_stored_as_nan(tmp_path, manager):
    path = tmp_path / "unstable.yaml"
    path.write_text(
        textwrap.dedent(
            """
            n_operators: 4
            grid: {height: 16, width: 16, channels: 1}
            operator: {kind: cnn, params: {base_channels: 4, normalization: none, activation: none, weight_scale: 8.0}}
            initial_conditions: {grf: {kind: gaussian_random_field}}
            rollout: {steps: 40, realizations: 2, policy: autoregressive, divergence_threshold: 100.0}
            storage: {store_trajectories: true}
            """
        )
    )
    out = tmp_path / "u.h5"
    make(path, out, manager)
    with open_dataset(out) as d:
        assert "diverged" in d.status()
        steps = d.diverged_step()
        diverged = np.array(d.status()) == "diverged"
        assert (steps[diverged] > 0).all() and (steps[~diverged] == -1).all()
        assert np.isfinite(d.trajectories()).all()


def test_embedded_quick_config_equals_the_shipped_example():
    shipped = (ROOT / "examples" / "configs" / "quick.yaml").read_text()
    assert quick_config_path().read_text() == shipped


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("n_operators: 2\n", "no `operator` section"),
        ("n_operators: 2\noperator: {kind: conv}\n", "building block, not an architecture"),
        (
            "n_operators: 2\noperator: cnn\nparameter_space: {num_layer: {type: integer, low: 2, high: 3}}\n",
            "did you mean 'num_layers'",
        ),
        ("n_operators: 2\noperator: {kind: cnnn}\n", "did you mean 'cnn'"),
    ],
)
def test_bad_configs_exit_2_without_traceback(tmp_path, yaml_text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    result = run_cli("generate", "-c", str(path), "-o", str(tmp_path / "x.h5"), "-q")
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.h5").exists() or "operator" in expected


def test_existing_output_and_mismatched_resume_are_refused(tiny_config, tmp_path, manager):
    out = tmp_path / "d.h5"
    make(tiny_config, out, manager, batch_size=4)
    before = contents(out)
    exists = run_cli("generate", "-c", str(tiny_config), "-o", str(out), "-q")
    assert exists.returncode == 2 and "--resume" in exists.stderr
    other = run_cli("generate", "-c", str(tiny_config), "-o", str(out), "--resume", "--seed", "9", "-q")
    assert other.returncode == 2 and "different config" in other.stderr
    plan = run_cli("generate", "-c", str(tiny_config), "-o", str(out), "--resume", "--batch-size", "3", "-q")
    assert plan.returncode == 2 and "compute plan" in plan.stderr
    assert contents(out) == before  # nothing already written was touched


def test_quick_run_is_valid(tmp_path):
    out = tmp_path / "quick.h5"
    result = run_cli("generate", "-o", str(out), "-q", "--json")
    assert result.returncode == 0, result.stderr
    assert validate_dataset(out) == []
    assert RunConfig  # the embedded config is a RunConfig (structured by the command)


def test_reduced_precision_is_opt_in_and_valid(tiny_config, tmp_path, manager):
    make(tiny_config, tmp_path / "f32.h5", manager, batch_size=8)
    make(tiny_config, tmp_path / "bf16.h5", manager, batch_size=8, precision="bfloat16")
    assert validate_dataset(tmp_path / "bf16.h5") == []
    with open_dataset(tmp_path / "f32.h5") as full, open_dataset(tmp_path / "bf16.h5") as half:
        assert half.compute_plan["precision"] == "bfloat16"
        assert half.trajectories().dtype == np.float32
        a, b = half.trajectories()[:, :, 1], full.trajectories()[:, :, 1]
        relative = np.abs(a - b).mean() / np.abs(b).mean()
        assert 0 < relative < 0.05  # bf16 keeps 8 mantissa bits: close, not equal
    with pytest.raises(ValueError, match="'precision' must be one of"):
        ComputePlan(precision="float8")


def test_auto_batch_size_fits_the_memory_budget(tiny_config, manager):
    from spinlock.operators.generation.pipeline import auto_batch_size_for
    from spinlock.operators.generation.sizing import bytes_per_operator

    config = load_run_config(tiny_config, manager)
    small = auto_batch_size_for(config, manager, "cpu", budget_bytes=2 * 1024**2)
    large = auto_batch_size_for(config, manager, "cpu", budget_bytes=64 * 1024**2)
    assert 1 <= small < large <= 256
    # the estimate grows with what is stored: more stored states, fewer operators per batch
    assert bytes_per_operator(config, 1000) > bytes_per_operator(
        attrs_evolve(config, storage=attrs_evolve(config.storage, store_trajectories=False)), 1000
    )


def test_auto_batch_size_is_recorded_and_reused_on_resume(tiny_config, tmp_path):
    out = tmp_path / "auto.h5"
    first = run_cli(
        "generate",
        "-c",
        str(tiny_config),
        "-o",
        str(out),
        "--batch-size",
        "auto",
        "--memory-budget",
        "0.004",
        "-q",
    )
    assert first.returncode == 0, first.stderr
    with open_dataset(out) as d:
        chosen = d.compute_plan["batch_size"]
    again = run_cli("generate", "-o", str(out), "--resume", "--batch-size", "auto", "-q", "--json")
    assert again.returncode == 0, again.stderr
    with open_dataset(out) as d:
        assert d.compute_plan["batch_size"] == chosen


def attrs_evolve(instance, **changes):  # type: ignore[no-untyped-def]
    import attrs

    return attrs.evolve(instance, **changes)


def test_every_rollout_parameter_name_overrides_a_rollout_setting():
    from spinlock.operators.architectures.parameters import ROLLOUT_PARAMETER_NAMES
    from spinlock.operators.generation.plan import NOISE_OVERRIDES, ROLLOUT_OVERRIDES

    assert set(ROLLOUT_OVERRIDES) | set(NOISE_OVERRIDES) == ROLLOUT_PARAMETER_NAMES
