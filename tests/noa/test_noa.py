"""The Neural Operator Agent: conditioning, gradients, tokenizer alignment, training, resume, replay, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from spinlock.core.cli.app import build_app
from spinlock.core.config import dump_config, dump_run_config, load_run_config, make_converter
from spinlock.core.plugins import build_plugin_manager
from spinlock.core.storage import open_dataset
from spinlock.noa.alignment import (
    FeaturePipeline,
    TokenizerAlignment,
    TorchCleaner,
    TorchTemporalScaler,
    build_feature_pipeline,
)
from spinlock.noa.backbone import NOABackbone, parameter_count
from spinlock.noa.config import BackboneConfig, LossConfig, NOAConfig, TrainingConfig, gpu_config_path
from spinlock.noa.data import (
    NOAData,
    dataset_family_builder,
    dataset_info,
    iter_trajectories,
    load_data,
    read_trajectories,
    replay_trajectories,
)
from spinlock.noa.losses import NOALoss
from spinlock.noa.predict import load_agent, predict
from spinlock.noa.training import TrainingError, train_noa
from spinlock.operators.generation.pipeline import ComputePlan, generate
from spinlock.vqvae.cleaning import CleaningConfig, fit_cleaner
from spinlock.vqvae.config import FamiliesConfig, TokenizerConfig, TrainingConfig as TokenizerTraining
from spinlock.vqvae.data import TemporalScaler, load_table
from spinlock.vqvae.model_config import VQVAEConfig
from spinlock.vqvae.tokenizer import Tokenizer
from spinlock.vqvae.training import train_tokenizer

runner = CliRunner()

# Convex updates x ← α·x + (1 − α)·O(x) with α in θ and weak random CNNs: much of each rollout follows from
# (θ, u0), as the agent needs (an operator's weights are drawn per index, not from θ, so the rest cannot).
RUN = """
seed: 5
n_operators: 32
grid: {height: 16, width: 16, channels: 2}
parameter_space:
  num_layers: {type: integer, low: 1, high: 2}
  alpha: {type: continuous, low: 0.4, high: 0.95}
  noise_scale: {type: continuous, low: 1.0e-3, high: 1.0e-2, log: true}
operator: {kind: cnn, params: {base_channels: 4, weight_scale: 0.2}}
initial_conditions: {grf: {kind: gaussian_random_field}}
rollout: {steps: 6, realizations: 2, policy: convex}
features: [{kind: initial}, {kind: summary}, {kind: temporal}]
storage: {store_trajectories: true}
"""

TINY = BackboneConfig(base_channels=4, encoder_levels=2, afno_blocks=1, modes=2, num_blocks=4, film_hidden=16)


def _config(**training: Any) -> NOAConfig:
    base = {"epochs": 3, "batch_size": 6, "learning_rate": 2e-2, "validation_fraction": 0.25}
    return NOAConfig(backbone=TINY, training=TrainingConfig(**{**base, **training}))


def _generate(folder: Path, text: str, name: str, manager: Any) -> Path:
    (folder / f"{name}.yaml").write_text(text)
    config = load_run_config(folder / f"{name}.yaml", manager)
    out = folder / f"{name}.h5"
    generate(config, dump_run_config(config, manager), out, manager, plan=ComputePlan(batch_size=8))
    return out


@pytest.fixture(scope="module")
def manager() -> Any:
    return build_plugin_manager(strict=True)


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """One torch thread for this module's training runs, restored afterwards: thread counts change
    floating-point reduction order, and other modules compare results across processes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, manager: Any) -> Path:
    return _generate(tmp_path_factory.mktemp("noa"), RUN, "d", manager)


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory, dataset: Path) -> Path:
    config = TokenizerConfig(
        families=FamiliesConfig(static=("initial", "summary"), temporal="temporal"),
        categories=attrs.evolve(TokenizerConfig().categories, n_categories=2, min_size=2, linkage="average"),
        model=VQVAEConfig(codebook_sizes=(4, 4, 4), latent_dim=4, hidden_dims=(16,)),
        training=TokenizerTraining(epochs=4, batch_size=32, patience=0, validation_fraction=0.0),
    )
    table = load_table(dataset, config.families.static_families(), config.families.temporal)
    out = tmp_path_factory.mktemp("tokenizer")
    train_tokenizer(table, config, out, config_yaml=dump_config(config, make_converter()))
    return out


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir: Path) -> Tokenizer:
    return Tokenizer.load(tokenizer_dir)


@pytest.fixture(scope="module")
def pipeline(dataset: Path, manager: Any, tokenizer: Tokenizer) -> FeaturePipeline:
    info, config = dataset_info(dataset, manager)
    return build_feature_pipeline(
        tokenizer, dataset_family_builder(config, manager), realizations=info.realizations, stride=info.stride
    )


@pytest.fixture(scope="module")
def data(dataset: Path, manager: Any, tokenizer: Tokenizer, pipeline: FeaturePipeline) -> NOAData:
    return load_data(dataset, manager, pipeline=pipeline, alignment=TokenizerAlignment(tokenizer))


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, dataset: Path, tokenizer_dir: Path, manager: Any
) -> Any:
    config = _config(epochs=6)
    out = tmp_path_factory.mktemp("agent")
    text = dump_config(config, make_converter())
    return out, train_noa(dataset, tokenizer_dir, out, config, config_yaml=text, manager=manager)


# ------------------------------------------------------------------------------------------------ backbone


def test_theta_conditioning_changes_the_rollout() -> None:
    torch.manual_seed(0)
    net = NOABackbone(2, 3, (16, 16), TINY, seed=1)
    u0 = torch.randn(1, 2, 16, 16).expand(2, -1, -1, -1)
    theta = torch.tensor([[0.1, 0.5, 0.9], [0.8, 0.2, 0.3]])
    with torch.no_grad():
        out = net.rollout(u0, theta, 5, stride=2)
    assert out.shape == (2, 3, 2, 16, 16)
    assert torch.equal(out[:, 0], u0)
    assert (out[0, 1:] - out[1, 1:]).abs().max() > 1e-3
    again = NOABackbone(2, 3, (16, 16), TINY, seed=1)
    with torch.no_grad():
        assert torch.equal(again.rollout(u0, theta, 5, stride=2), out)  # seeded initialisation


def test_checkpointing_and_bptt_keep_the_forward_pass() -> None:
    net = NOABackbone(2, 3, (16, 16), TINY)
    u0, theta = torch.randn(2, 2, 16, 16), torch.rand(2, 3)
    plain = net.rollout(u0, theta, 6)
    other = net.rollout(u0, theta, 6, bptt_window=2, gradient_checkpointing=True)
    torch.testing.assert_close(plain, other)
    other.pow(2).mean().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_grid_and_modes_are_checked() -> None:
    with pytest.raises(ValueError, match="not divisible"):
        NOABackbone(1, 2, (18, 18), TINY)
    with pytest.raises(ValueError, match="'modes' must be <= 2"):
        NOABackbone(1, 2, (16, 16), attrs.evolve(TINY, modes=3))


def test_gpu_preset_has_about_144m_parameters() -> None:
    from spinlock.core.config import loads_config

    config = loads_config(gpu_config_path().read_text(), NOAConfig, make_converter(), "gpu preset")
    with torch.device("meta"):
        net = NOABackbone(3, 12, (64, 64), config.backbone, init=False)
    count = parameter_count(net)
    assert 0.85 * 144e6 <= count <= 1.15 * 144e6, count


# ------------------------------------------------------------------------------------------ tokenizer bridge


def test_torch_cleaning_matches_the_numpy_cleaner(tokenizer: Tokenizer, dataset: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_t(2, size=(200, 6)) * [1, 10, 1e-3, 5, 1, 1]
    X[:, 4] = X[:, 0] * 2 + 1e-9 * rng.normal(size=200)  # duplicate column
    X[:, 5] = 3.0  # constant column
    X[rng.random(X.shape) < 0.05] = np.nan
    for config in (
        CleaningConfig(),
        CleaningConfig(normalization="robust", outlier_k=2.0),
        CleaningConfig(power_transform=None),
    ):
        cleaner = fit_cleaner(X, [f"c{i}" for i in range(6)], config)
        probe = X * 3.0
        probe[0, :] = [np.inf, -np.inf, np.nan, 1e30, -1e30, 0.0]
        expected = cleaner.transform(probe)
        got = TorchCleaner(cleaner)(torch.from_numpy(probe))
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6, atol=1e-6)
        # differentiable, with finite gradients on both sides of the Yeo–Johnson branches
        inputs = torch.from_numpy(np.nan_to_num(X[1:50], nan=0.0)).requires_grad_(True)
        TorchCleaner(cleaner)(inputs).sum().backward()
        assert inputs.grad is not None and bool(torch.isfinite(inputs.grad).all())
    # and the tokenizer's own cleaning and scaling, on the dataset's features
    table = load_table(dataset, ("initial", "summary"), "temporal")
    static, temporal = tokenizer.inputs(table)
    np.testing.assert_allclose(
        TorchCleaner(tokenizer.cleaner)(torch.from_numpy(table.static)).numpy(),
        static.numpy(),
        rtol=1e-6,
        atol=1e-6,
    )
    assert table.temporal is not None and tokenizer.scaler is not None
    np.testing.assert_allclose(
        TorchTemporalScaler(tokenizer.scaler)(torch.from_numpy(table.temporal)).numpy(),
        temporal.numpy(),  # type: ignore[union-attr]
        rtol=1e-6,
        atol=1e-6,
    )
    assert tokenizer.scaler.power_lambda is not None  # the defaults cap and power-transform TEMPORAL
    bad = table.temporal.copy()
    bad[0, 0, :3] = [np.nan, np.inf, -np.inf]
    for scaler in (TemporalScaler.fit(table.temporal), tokenizer.scaler):
        np.testing.assert_allclose(
            TorchTemporalScaler(scaler)(torch.from_numpy(bad)).numpy(),
            scaler.transform(bad),
            rtol=1e-6,
            atol=1e-6,
        )


def test_features_of_the_true_trajectories_give_the_stored_tokens(
    dataset: Path, tokenizer: Tokenizer, pipeline: FeaturePipeline, data: NOAData
) -> None:
    """The agent's feature path (families with the dataset's configs, torch cleaning, frozen encoders)
    reproduces the dataset's features and the tokens `spinlock tokenize` gives them: same columns, same
    order, nothing padded or truncated."""
    with open_dataset(dataset) as reader:
        truth = torch.from_numpy(reader.trajectories(data.rows))  # type: ignore[arg-type]
        stored = np.concatenate(
            [reader.features(f, data.rows).values for f in ("initial", "summary")], axis=1
        )
    assert data.fixed is not None
    static, temporal = pipeline.features(truth, data.fixed, data.u0)
    assert static.shape[1] == len(tokenizer.cleaner.names)
    np.testing.assert_allclose(static.numpy(), stored, rtol=1e-3, atol=1e-4)
    codes = TokenizerAlignment(tokenizer)(static, temporal).codes.numpy()
    table = load_table(dataset, ("initial", "summary"), "temporal")
    assert np.array_equal(table.rows, data.rows)
    expected = tokenizer.tokenize(table)
    assert (codes == expected).mean() >= 0.97, (codes == expected).mean()


def test_target_latents_are_those_of_the_mean_target(data: NOAData) -> None:
    assert data.target_latents is not None and torch.isfinite(data.target_latents).all()
    with open_dataset(data.info.path) as reader:
        truth = reader.trajectories(data.rows[:3])
    np.testing.assert_allclose(data.target[:3].numpy(), truth.mean(axis=1), rtol=1e-6)  # type: ignore[union-attr]
    assert torch.equal(data.target[:, 0], data.u0)


@pytest.mark.parametrize("term", ["trajectory", "latent", "commitment"])
def test_every_loss_term_reaches_every_parameter(
    term: str, data: NOAData, tokenizer: Tokenizer, pipeline: FeaturePipeline
) -> None:
    weights = {f"{name}_weight": float(name == term) for name in ("trajectory", "latent", "commitment")}
    loss = NOALoss(LossConfig(**weights), pipeline, TokenizerAlignment(tokenizer), realizations=2)
    net = NOABackbone(2, data.theta.shape[1], (16, 16), TINY)
    index = torch.arange(6)
    prediction = net.rollout(data.u0[index], data.theta[index], data.info.steps)
    assert data.fixed is not None and data.target_latents is not None
    terms = loss(
        prediction,
        data.target[index],
        scale=data.scale[index],
        fixed=data.fixed[index],
        target_latents=data.target_latents[index],
    )
    assert float(getattr(terms, term).detach()) > 0 and torch.equal(terms.total, getattr(terms, term))
    terms.total.backward()
    silent = [
        name
        for name, p in net.named_parameters()
        if p.grad is None or not torch.isfinite(p.grad).all() or float(p.grad.abs().max()) == 0.0
    ]
    assert not silent, silent
    assert all(p.grad is None for p in tokenizer.model.parameters())  # frozen


# ------------------------------------------------------------------------------------------------ training


def test_training_beats_predicting_u0_forever(trained: Any) -> None:
    out, result = trained
    history = json.loads((out / "history.json").read_text())
    best = history[result.best_epoch]
    assert best["val_trajectory"] < 0.25 * best["val_persistence_trajectory"], best
    assert history[-1]["train_total"] < history[0]["train_total"]
    assert {p.name for p in out.iterdir()} >= {
        "model.pt",
        "last.pt",
        "tokenizer.pt",
        "history.json",
        "config.yaml",
    }


def test_predict_reports_errors_and_tokens(trained: Any, dataset: Path, manager: Any) -> None:
    out, result = trained
    agent = load_agent(out)
    assert agent.tokenizer.temporal_categories is not None
    assert agent.tokenizer.temporal_categories.n_categories >= 2  # the alignment covers grouped TEMPORAL
    rows = [int(r) for r in result.validation_rows[:2]]
    report = predict(agent, dataset, rows, manager)
    assert [r["index"] for r in report["operators"]] == rows
    for item in report["operators"]:
        assert item["trajectory"]["scaled_mse"] < item["trajectory"]["persistence_scaled_mse"]
        # two static categories (fixed) + the TEMPORAL categories discovered, three levels each
        assert np.asarray(item["tokens"]["true"]).shape == (len(agent.tokenizer.category_names), 3)
        assert 0.0 <= item["tokens"]["agreement_with_true"]["all"] <= 1.0


class _StopAfter:
    """Interrupts training after ``n`` epochs, as Ctrl-C would."""

    def __init__(self, n: int) -> None:
        self.n = n

    def start(self, total_epochs: int, first_epoch: int) -> None:
        pass

    def epoch(self, record: dict[str, object]) -> None:
        if record["epoch"] == self.n - 1:
            raise KeyboardInterrupt

    def stop(self) -> None:
        pass


def test_resume_continues_the_same_loss_curve(
    tmp_path: Path, dataset: Path, tokenizer_dir: Path, manager: Any
) -> None:
    config = _config(epochs=3)
    text = dump_config(config, make_converter())

    def run(folder: str, **kwargs: Any) -> Any:
        return train_noa(
            dataset, tokenizer_dir, tmp_path / folder, config, config_yaml=text, manager=manager, **kwargs
        )

    straight = run("a")
    with pytest.raises(KeyboardInterrupt):
        run("b", progress=_StopAfter(2))
    resumed = run("b", resume=True)
    assert len(resumed.history) == 3
    for key in ("train_total", "train_trajectory", "train_latent", "val_total"):
        assert [h[key] for h in resumed.history] == [h[key] for h in straight.history], key
    for name, tensor in straight.backbone.state_dict().items():
        assert torch.equal(tensor, resumed.backbone.state_dict()[name]), name
    other = attrs.evolve(config, training=attrs.evolve(config.training, learning_rate=1e-2))
    with pytest.raises(TrainingError, match="another config"):
        train_noa(
            dataset, tokenizer_dir, tmp_path / "b", other,
            config_yaml=dump_config(other, make_converter()), manager=manager, resume=True,
        )  # fmt: skip


def test_non_finite_loss_is_reported_not_skipped(
    tmp_path: Path, dataset: Path, tokenizer_dir: Path, manager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(epochs=1, learning_rate=1e6, grad_clip=0.0)
    config = attrs.evolve(config, backbone=attrs.evolve(TINY, update="autoregressive"))
    with pytest.raises(TrainingError, match=r"non-finite (loss|gradient|prediction) at epoch 0, batch [1-9]"):
        train_noa(
            dataset, tokenizer_dir, tmp_path / "a", config,
            config_yaml=dump_config(config, make_converter()), manager=manager,
        )  # fmt: skip
    original = NOALoss.__call__

    def nan_latent(self: NOALoss, *args: Any, **kwargs: Any) -> Any:
        terms = original(self, *args, **kwargs)
        return terms._replace(latent=terms.latent * np.nan, total=terms.total * np.nan)

    monkeypatch.setattr(NOALoss, "__call__", nan_latent)
    config = _config(epochs=1)
    with pytest.raises(
        TrainingError, match=r"non-finite loss at epoch 0, batch 0 \(loss terms: total nan, trajectory"
    ):
        train_noa(
            dataset, tokenizer_dir, tmp_path / "b", config,
            config_yaml=dump_config(config, make_converter()), manager=manager,
        )  # fmt: skip


# -------------------------------------------------------------------------------------------------- replay

REPLAY = """
seed: 2
n_operators: 8
grid: {height: 16, width: 16, channels: 1}
parameter_space:
  num_layers: {type: integer, low: 1, high: 2}
  noise_scale: {type: continuous, low: 1.0e-3, high: 1.0e-1, log: true}
operator: {kind: cnn, params: {base_channels: 4}}
initial_conditions: {grf: {kind: gaussian_random_field}}
rollout: {steps: 4, realizations: 2}
storage: {store_trajectories: STORE}
"""


def test_replay_equals_the_stored_trajectories(tmp_path: Path, manager: Any) -> None:
    app = build_app()
    paths = {}
    for store in ("true", "false"):
        (tmp_path / f"{store}.yaml").write_text(REPLAY.replace("STORE", store))
        out = tmp_path / f"{store}.h5"
        result = runner.invoke(
            app,
            [
                "generate",
                "-c",
                str(tmp_path / f"{store}.yaml"),
                "-o",
                str(out),
                "--batch-size",
                "4",
                "--quiet",
            ],
        )
        assert result.exit_code == 0, result.output
        paths[store] = out
    with open_dataset(paths["true"]) as reader:
        stored = reader.trajectories()
        assert stored is not None and stored.shape == (8, 2, 4, 1, 16, 16)
    for path in paths.values():  # with and without stored trajectories
        replayed = dict(replay_trajectories(path, [6, 1, 3], manager))
        assert sorted(replayed) == [1, 3, 6]
        for index, trajectory in replayed.items():
            assert np.array_equal(trajectory, stored[index]), index
    # replayed operators come in the generator's batch order (grouped by architecture); readers place them
    wanted = np.asarray([7, 0, 5, 2, 4])
    np.testing.assert_array_equal(read_trajectories(paths["false"], wanted, manager), stored[wanted])
    chunks = [part for part, _ in iter_trajectories(paths["false"], wanted, manager, chunk=2)]
    assert sorted(np.concatenate(chunks).tolist()) == sorted(wanted.tolist())
    # a dataset without stored trajectories gets its targets by replay
    info, _ = dataset_info(paths["false"], manager)
    assert not info.trajectories_stored
    replay_data = load_data(paths["false"], manager)
    np.testing.assert_array_equal(replay_data.target.numpy(), stored[replay_data.rows].mean(axis=1))


# ---------------------------------------------------------------------------------------------- command line


def test_cli_trains_and_predicts(tmp_path: Path, dataset: Path, tokenizer_dir: Path) -> None:
    config = tmp_path / "noa.yaml"
    config.write_text(dump_config(_config(epochs=1), make_converter()))
    app = build_app()
    out = tmp_path / "agent"
    args = ["train-noa", "-d", str(dataset), "--vqvae", str(tokenizer_dir), "-o", str(out), "-c", str(config)]
    result = runner.invoke(app, [*args, "-q", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["epochs_run"] == 1 and summary["parameters"] > 0
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "already holds an agent" in again.output
    result = runner.invoke(app, ["noa", "predict", "-m", str(out), "-d", str(dataset), "-i", "0,3", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [r["index"] for r in report["operators"]] == [0, 3]
    text = runner.invoke(app, ["noa", "predict", "-m", str(out), "-d", str(dataset), "-i", "1"])
    assert text.exit_code == 0 and "operator 1: scaled MSE" in text.stdout


def test_cli_bad_inputs_exit_2_without_traceback(tmp_path: Path, dataset: Path, tokenizer_dir: Path) -> None:
    app = build_app()
    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text("backbone: {base_chanels: 4}\n")
    not_a_model = tmp_path / "nothing"
    not_a_model.mkdir()
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    train = ["train-noa", "-d", str(dataset), "--vqvae", str(tokenizer_dir), "-o", str(tmp_path / "o")]
    cases = [
        (
            ["train-noa", "-d", str(tmp_path / "missing.h5"), "--vqvae", str(tokenizer_dir), "-o", "x"],
            "no such dataset",
        ),
        (
            ["train-noa", "-d", str(dataset), "--vqvae", str(not_a_model), "-o", str(tmp_path / "o")],
            "checkpoint",
        ),
        ([*train, "-c", str(bad_config)], "base_chanels"),
        ([*train, "--resume"], "nothing to resume"),
        (["noa", "predict", "-m", str(not_a_model), "-d", str(dataset), "-i", "0"], "checkpoint"),
        (
            ["noa", "predict", "-m", str(tmp_path / "junk.pt"), "-d", str(dataset), "-i", "0"],
            "not a readable",
        ),
        (
            ["noa", "predict", "-m", str(not_a_model), "-d", str(dataset), "-i", "zero"],
            "not a non-negative integer",
        ),
    ]
    for argv, message in cases:
        result = runner.invoke(app, argv)
        assert result.exit_code == 2, (argv, result.output)
        assert message in result.output, (argv, result.output)
        assert "Traceback" not in result.output and isinstance(result.exception, SystemExit), argv


def test_predict_refuses_out_of_range_operators(trained: Any, dataset: Path) -> None:
    out, _ = trained
    result = runner.invoke(build_app(), ["noa", "predict", "-m", str(out), "-d", str(dataset), "-i", "0,99"])
    assert result.exit_code == 2 and "outside [0, 32)" in result.output and "Traceback" not in result.output


def test_plugin_is_listed_without_importing_torch() -> None:
    code = textwrap.dedent(
        """
        import json, sys
        from spinlock.core.cli import main
        try:
            main(["list-plugins", "--json"])
        except SystemExit as exc:
            assert exc.code in (0, None), exc.code
        sys.stdout.flush()
        print("torch imported:", "torch" in sys.modules, file=sys.stderr)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stderr.strip().splitlines()[-1] == "torch imported: False", proc.stderr
    (noa,) = [p for p in json.loads(proc.stdout) if p["distribution"] == "spinlock-noa"]
    assert noa["components"]["encoder"] == ["noa"] and not noa["error"]


def test_shipped_configs_validate_and_the_run_config_section_uses_them(tmp_path: Path, manager: Any) -> None:
    from spinlock.core.config import ConfigError, loads_config
    from spinlock.noa.config import default_config_path

    converter = make_converter()
    assert loads_config(default_config_path().read_text(), NOAConfig, converter, "noa.yaml") == NOAConfig()
    gpu = loads_config(gpu_config_path().read_text(), NOAConfig, converter, "noa_gpu.yaml")
    assert gpu.training.device == "cuda" and gpu.training.gradient_checkpointing
    run = tmp_path / "run.yaml"
    run.write_text("noa: {kind: noa, params: {backbone: {base_channels: 4}, loss: {latent_weight: 0.2}}}\n")
    config = load_run_config(run, manager)
    assert config.noa is not None and config.noa.params == NOAConfig(
        backbone=BackboneConfig(base_channels=4), loss=LossConfig(latent_weight=0.2)
    )
    run.write_text("noa: {kind: noa, params: {backbone: {modes: 0}}}\n")
    with pytest.raises(ConfigError, match="'modes' must be >= 1"):
        load_run_config(run, manager)


def test_foreign_checkpoints_are_refused_and_pickles_never_run(tmp_path: Path) -> None:
    from spinlock.noa.checkpoint import CheckpointError, load_checkpoint

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (marker.write_text, ("x",))

    torch.save({"format": "spinlock-noa-checkpoint", "evil": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not marker.exists()
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a Spinlock NOA checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
