"""Issue 10 (4): diverging operators, extreme initial conditions, constant fields and NaN/inf features never
crash and never hide a NaN: every output is finite, or the problem is reported (status, warning, count)."""

from __future__ import annotations

import json
import textwrap
import warnings
from pathlib import Path

import attrs
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from spinlock.core.cli.app import build_app
from spinlock.core.config import RunConfig, dump_config, dump_run_config, loads_config, make_converter
from spinlock.core.features.finite import NonFiniteFeaturesWarning
from spinlock.core.plugins import PluginManager, build_plugin_manager
from spinlock.core.rollout import RolloutSpec, rollout
from spinlock.core.storage import open_dataset, validate_dataset
from spinlock.features.api import extract
from spinlock.operators.generation.pipeline import ComputePlan, GenerationSummary, generate
from spinlock.vqvae.config import FamiliesConfig, TokenizerConfig, TrainingConfig
from spinlock.vqvae.data import table_from_arrays
from spinlock.vqvae.model_config import VQVAEConfig
from spinlock.vqvae.report import tokenizer_metrics
from spinlock.vqvae.training import train_tokenizer

GENTLE = "{kind: cnn, params: {base_channels: 4}}"
WILD = "{kind: cnn, params: {base_channels: 4, normalization: none, activation: none, weight_scale: 8.0}}"


@pytest.fixture(scope="module")
def manager() -> PluginManager:
    return build_plugin_manager(strict=True)


def config_text(operator: str, rollout_section: str) -> str:
    return textwrap.dedent(
        f"""
        n_operators: 4
        grid: {{height: 16, width: 16, channels: 1}}
        operator: {operator}
        initial_conditions: {{grf: {{kind: gaussian_random_field}}}}
        rollout: {rollout_section}
        features: [{{kind: initial}}, {{kind: summary}}, {{kind: temporal}}]
        storage: {{store_trajectories: true}}
        """
    )


def run_generation(text: str, out: Path, manager: PluginManager) -> GenerationSummary:
    config = loads_config(text, RunConfig, make_converter(manager.components), "test config")
    return generate(config, dump_run_config(config, manager), out, manager, plan=ComputePlan(batch_size=2))


# -- diverging operators ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "rollout_section"),
    [
        (GENTLE, "{steps: 10, realizations: 2, policy: residual, dt: 1.0e6}"),  # a huge step
        (GENTLE, "{steps: 10, realizations: 2, noise: {type: gaussian, scale: 1.0e8}}"),  # huge noise
        (GENTLE, "{steps: 10, realizations: 2, noise: {type: multiplicative, scale: 1.0e3}}"),
        (WILD, "{steps: 30, realizations: 2, policy: autoregressive}"),  # exponential growth
    ],
    ids=["dt", "noise", "multiplicative", "weights"],
)
def test_diverging_operators_are_recorded_and_features_stay_finite(
    tmp_path: Path, manager: PluginManager, operator: str, rollout_section: str
) -> None:
    out = tmp_path / "d.h5"
    summary = run_generation(config_text(operator, rollout_section), out, manager)
    assert summary.status_counts.get("diverged", 0) == 4, summary.status_counts
    assert summary.nonfinite_features == {}
    assert validate_dataset(out) == []
    with open_dataset(out) as d:
        assert (d.diverged_step() >= 0).all()
        assert np.isfinite(d.trajectories()).all()
        for family in d.feature_families():
            assert np.isfinite(d.features(family).values).all(), family


def test_states_too_large_for_float32_features_are_counted_and_warned(tmp_path: Path) -> None:
    """Below a huge divergence threshold states reach ~1e10: the overflowing features are reported."""
    path = tmp_path / "huge.yaml"
    path.write_text(
        config_text(
            GENTLE, "{steps: 10, realizations: 2, policy: residual, dt: 1.0e9, divergence_threshold: 3.0e38}"
        )
    )
    out = tmp_path / "d.h5"
    result = CliRunner().invoke(
        build_app(), ["generate", "-c", str(path), "-o", str(out), "-q", "--json", "--batch-size", "2"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == {"ok": 4}
    counted = summary["nonfinite_features"]
    assert counted.get("summary", 0) > 0 and counted.get("temporal", 0) > 0 and "initial" not in counted
    assert "warning:" in result.stderr and "divergence_threshold" in result.stderr
    with open_dataset(out) as d:
        assert np.isfinite(d.trajectories()).all()
        bad = ~np.isfinite(d.features("summary").values).reshape(4, -1).any(axis=1)
        assert int((~bad).sum()) == counted["summary"]


# -- extreme initial conditions in the rollout engine -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "status"),
    [(1e30, "diverged"), (3e38, "diverged"), (1e-40, "ok"), (0.0, "ok"), (float("-inf"), "diverged")],
)
def test_extreme_initial_conditions_roll_out_to_finite_states(value: float, status: str) -> None:
    u0 = torch.full((2, 1, 8, 8), value, dtype=torch.float32)
    u0[1] = torch.randn(1, 8, 8)  # a normal neighbour in the same batch is unaffected
    spec = RolloutSpec(
        steps=5,
        realizations=2,
        policy=["residual", "residual"],
        dt=[0.1, 0.1],
        alpha=[0.5, 0.5],
        noise_scale=[0.01, 0.01],
    )
    result = rollout(
        lambda x: torch.tanh(x), u0, spec, operator_indices=[0, 1], root_seed=3, store_trajectory=True
    )
    assert result.status == (status, "ok")
    assert result.trajectories is not None and bool(torch.isfinite(result.trajectories).all())
    assert bool(torch.isfinite(result.final).all())


# -- features of constant, tiny, huge and non-finite fields -------------------------------------------------


def _inputs(kind: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(initial conditions (3, 2, 16, 16), trajectories (3, 2, 5, 2, 16, 16)) of one kind of field."""
    rng = np.random.default_rng(seed)
    ic = rng.standard_normal((3, 2, 16, 16)).astype(np.float32)
    traj = rng.standard_normal((3, 2, 5, 2, 16, 16)).astype(np.float32)
    if kind == "zeros":
        return np.zeros_like(ic), np.zeros_like(traj)
    if kind == "constant":
        return np.full_like(ic, 2.5), np.full_like(traj, -7.0)
    if kind == "constant_in_space":  # each frame one value, changing in time
        return np.full_like(ic, 1.0), np.broadcast_to(
            np.arange(5, dtype=np.float32)[None, None, :, None, None, None], traj.shape
        ).copy()
    if kind == "one_constant_channel":
        ic[:, 1], traj[:, :, :, 1] = 3.0, 3.0
        return ic, traj
    scale = {"denormal": 1e-40, "tiny": 1e-30, "large": 1e9, "huge": 1e30, "float32_max": 3e38}[kind]

    def scaled(x: np.ndarray) -> np.ndarray:  # values in [-scale, scale]
        return (np.clip(x.astype(np.float64), -3, 3) / 3 * scale).astype(np.float32)

    return scaled(ic), scaled(traj)


FAMILIES = ("initial", "summary", "temporal")


def _extract(family: str, ic: np.ndarray, traj: np.ndarray) -> np.ndarray:
    if family == "initial":
        return extract(family, initial_condition=ic)[0]
    return extract(family, trajectory=traj)[0]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    "kind", ["zeros", "constant", "constant_in_space", "one_constant_channel", "denormal", "tiny"]
)
def test_features_of_constant_and_tiny_fields_are_finite(family: str, kind: str) -> None:
    ic, traj = _inputs(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning of any kind either
        values = _extract(family, ic, traj)
    assert np.isfinite(values).all()


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", ["large", "huge", "float32_max"])
def test_features_of_huge_fields_are_finite_or_reported(family: str, kind: str) -> None:
    ic, traj = _inputs(kind)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        values = _extract(family, ic, traj)  # never raises (SUMMARY's eigensolver used to fail to converge)
    reports = [w for w in caught if issubclass(w.category, NonFiniteFeaturesWarning)]
    if np.isfinite(values).all():
        assert not reports
    else:
        assert len(reports) == 1
        message = str(reports[0].message)
        assert message.startswith(f"{family}: ") and "not finite" in message and "columns" in message


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_inputs_are_refused_naming_the_samples(family: str, bad: float) -> None:
    ic, traj = _inputs("tiny")
    ic[2, 0, 3, 3] = bad
    traj[2, 1, 4, 0, 3, 3] = bad
    what = "initial_condition" if family == "initial" else "trajectory"
    with pytest.raises(ValueError, match=rf"{what} has non-finite values .* in 1 of 3 samples \(2\)"):
        _extract(family, ic, traj)


# -- VQ-VAE training on features with NaN and inf columns ---------------------------------------------------


def _nasty_table(n: int = 160, seed: int = 0):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    latent = rng.normal(0, 3, (4, 3))[labels] + 0.1 * rng.normal(size=(n, 3))
    static = (latent @ rng.normal(size=(3, 8))).astype(np.float32)
    static[:, 0] = np.nan  # no finite value at all
    static[::3, 1] = np.nan  # a third missing
    static[::7, 2] = np.inf
    static[::11, 3] = -np.inf
    static[:, 4] = np.float32(3e38) * np.sign(rng.normal(size=n)).astype(np.float32)  # float32's edge
    t = np.linspace(0, 1, 5)
    temporal = (latent[:, :2, None] * np.stack([np.sin(3 * t), t**2])[None]).transpose(0, 2, 1)
    temporal = temporal.astype(np.float32)
    temporal[::5, 2, 0] = np.nan
    temporal[:, :, 1] = np.inf  # a temporal column with no finite value
    names = {"alpha": [f"x{i}" for i in range(8)]}
    return table_from_arrays({"alpha": static}, names, temporal, ["sin", "square"])


def _tokenizer_config() -> TokenizerConfig:
    return TokenizerConfig(
        families=FamiliesConfig(static=("alpha",), temporal="temporal"),
        categories=attrs.evolve(TokenizerConfig().categories, n_categories=2, min_size=2, linkage="average"),
        model=VQVAEConfig(codebook_sizes=(4, 4), latent_dim=4, hidden_dims=(16,)),
        training=TrainingConfig(epochs=3, batch_size=64, patience=0),
    )


def test_vqvae_trains_on_nan_and_inf_columns_and_reports_them(tmp_path: Path) -> None:
    table, config = _nasty_table(), _tokenizer_config()
    log: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no "mean of empty slice" and the like
        result = train_tokenizer(
            table, config, tmp_path, config_yaml=dump_config(config, make_converter()), log=log.append
        )
        metrics = tokenizer_metrics(result.tokenizer, table, result.validation_index)
    assert all(np.isfinite(v) for epoch in result.history for k, v in epoch.items() if k != "epoch")
    tokens = result.tokenizer.tokenize(table)
    assert (tokens >= 0).all()
    report = result.tokenizer.cleaner.report
    assert report.dropped_by_reason()["nonfinite"] == ["alpha::x0"]
    assert "NaN/inf: 1 columns dropped, 3 imputed" in log[0]
    nonfinite = metrics["nonfinite"]
    assert nonfinite["dropped_columns"] == ["alpha::x0"]
    assert set(nonfinite["imputed_columns"]) == {"alpha::x1", "alpha::x2", "alpha::x3"}
    assert nonfinite["temporal_values_replaced"] == 160 * 5 + 32
    assert nonfinite["temporal_columns_all_nonfinite"] == ["square"]
    assert np.isfinite(metrics["reconstruction"]["overall"])


def test_vqvae_on_features_without_any_finite_column_fails_clearly(tmp_path: Path) -> None:
    table = _nasty_table()
    table.static[...] = np.nan
    config = _tokenizer_config()
    with pytest.raises(ValueError, match="all 8 columns were dropped as non-finite"):
        train_tokenizer(table, config, tmp_path, config_yaml=dump_config(config, make_converter()))
