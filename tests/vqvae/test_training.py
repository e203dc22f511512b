"""Tokenizer training end to end: planted structure, resume, checkpoints, tokenize into datasets, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score, r2_score
from typer.testing import CliRunner

from spinlock.core.cli.app import build_app
from spinlock.core.config import dump_config, make_converter
from spinlock.core.storage import DatasetWriter, open_dataset
from spinlock.core.testing import make_tiny_dataset
from spinlock.vqvae.checkpoint import CheckpointError, load_checkpoint
from spinlock.vqvae.config import FamiliesConfig, TokenizerConfig, TrainingConfig
from spinlock.vqvae.data import table_from_arrays
from spinlock.vqvae.model_config import VQVAEConfig
from spinlock.vqvae.report import tokenizer_metrics
from spinlock.vqvae.tokenizer import Tokenizer
from spinlock.vqvae.training import TrainingError, train_tokenizer

runner = CliRunner()


def _planted(n: int = 600, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Two families whose columns follow 6 planted behaviours (+ noise), and a temporal family."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 6, n)
    centres = rng.normal(0, 3, (6, 4))
    latent = centres[labels] + 0.15 * rng.normal(size=(n, 4))
    mix_a, mix_b = rng.normal(size=(4, 10)), rng.normal(size=(4, 8))
    static = {"alpha": latent @ mix_a, "beta": np.tanh(latent @ mix_b) + 0.01 * rng.normal(size=(n, 8))}
    t = np.linspace(0, 1, 6)
    temporal = (latent[:, :2, None] * np.stack([np.sin(3 * t), t**2])[None]).transpose(0, 2, 1)
    return static, temporal.astype(np.float32), labels


def _config(**training: object) -> TokenizerConfig:
    return TokenizerConfig(
        families=FamiliesConfig(static=("alpha", "beta"), temporal="temporal"),
        categories=attrs.evolve(TokenizerConfig().categories, n_categories=2, min_size=2, linkage="average"),
        model=VQVAEConfig(codebook_sizes=(6, 4, 4), latent_dim=4, hidden_dims=(32,)),
        training=TrainingConfig(**{"epochs": 40, "batch_size": 128, "patience": 0, **training}),  # type: ignore[arg-type]
    )


def _table(n: int = 600, seed: int = 0):  # type: ignore[no-untyped-def]
    static, temporal, labels = _planted(n, seed)
    names = {f: [f"x{i}" for i in range(v.shape[1])] for f, v in static.items()}
    return table_from_arrays(static, names, temporal, ["sin", "square"]), labels


def _train(tmp: Path, config: TokenizerConfig, **kwargs):  # type: ignore[no-untyped-def]
    table, labels = _table()
    text = dump_config(config, make_converter())
    return train_tokenizer(table, config, tmp, config_yaml=text, **kwargs), table, labels


def test_tokens_recover_planted_structure_and_checkpoint_round_trips(tmp_path: Path) -> None:
    result, table, labels = _train(tmp_path, _config())
    ids = result.tokenizer.tokenize(table)
    assert ids.shape == (600, 3, 3)  # two static categories + temporal, three levels
    best = max(adjusted_rand_score(labels, ids[:, k, 0]) for k in range(2))
    assert best >= 0.9, best
    loaded = Tokenizer.load(tmp_path)
    np.testing.assert_array_equal(loaded.tokenize(table), ids)
    # the reported R² against sklearn's pooled (variance-weighted) R²
    held_out = table.take(result.validation_index)
    static, temporal = result.tokenizer.inputs(held_out)
    rec_static, rec_temporal = result.tokenizer.reconstruct(held_out)
    series = temporal.numpy()
    reconstruction = tokenizer_metrics(result.tokenizer, table, result.validation_index)["reconstruction"]
    for key, x, x_hat in [
        ("overall", static.numpy(), rec_static),
        ("temporal", series.reshape(len(series), -1), rec_temporal.reshape(len(series), -1)),
        ("temporal_time_mean", series.mean(axis=1), rec_temporal.mean(axis=1)),
    ]:
        assert reconstruction[key] == pytest.approx(
            r2_score(x, x_hat, multioutput="variance_weighted"), abs=1e-5
        )
    checkpoint = load_checkpoint(tmp_path / "model.pt")
    assert "families" in checkpoint.config_yaml and checkpoint.tokenizer_state["temporal_names"] == [
        "sin",
        "square",
    ]
    history = json.loads((tmp_path / "history.json").read_text())
    assert history[-1]["train_total"] < history[0]["train_total"]
    # the best checkpoint is the epoch with the lowest validation reconstruction objective (not total loss)
    objective = [record["val_objective"] for record in history]
    assert result.best_epoch == int(np.argmin(objective))
    for record in history:
        assert record["val_objective"] == pytest.approx(
            record["val_total"] - record["val_commitment"], rel=1e-5
        )


def test_temporal_categories_are_discovered_trained_and_saved(tmp_path: Path) -> None:
    """Six TEMPORAL columns in two planted groups (three courses over time of one factor each) become two
    TEMPORAL categories with their own tokens, which the checkpoint restores and the report scores."""
    table, _ = _table()
    rng = np.random.default_rng(5)
    factors = rng.normal(size=(len(table), 2))
    t = np.linspace(0, 1, 6)[None, :]
    columns = [
        factors[:, [g]] * course + 0.05 * rng.normal(size=(len(table), 6))
        for g in (0, 1)
        for course in (1 + t, np.cos(2 * t), 2 - t**2)
    ]
    temporal = np.stack(columns, axis=2).astype(np.float32)
    names = [f"g{g}_c{c}" for g in (0, 1) for c in range(3)]
    table = attrs.evolve(table, temporal=temporal, temporal_names=tuple(names))
    config = _config(epochs=15)
    config = attrs.evolve(config, categories=attrs.evolve(config.categories, min_categories=2))
    result = train_tokenizer(table, config, tmp_path, config_yaml=dump_config(config, make_converter()))
    tokenizer = result.tokenizer
    assert tokenizer.temporal_categories is not None
    assert [c.indices for c in tokenizer.temporal_categories.categories] == [(0, 1, 2), (3, 4, 5)]
    temporal_names = tokenizer.category_names[2:]
    assert [name[: len("temporal:gX")] for name in temporal_names] == ["temporal:g0", "temporal:g1"]
    assert tokenizer.model.temporal_categories == ((0, 1, 2), (3, 4, 5))
    ids = tokenizer.tokenize(table)
    assert ids.shape == (600, 4, 3)
    loaded = Tokenizer.load(tmp_path)
    assert loaded.temporal_categories == tokenizer.temporal_categories
    np.testing.assert_array_equal(loaded.tokenize(table), ids)

    report = tokenizer_metrics(tokenizer, table, result.validation_index)
    assert [entry["name"] for entry in report["temporal_categories"]] == list(temporal_names)
    held_out = table.take(result.validation_index)
    _, series = tokenizer.inputs(held_out)
    _, rec = tokenizer.reconstruct(held_out)
    assert series is not None and rec is not None
    for name, group in zip(temporal_names, ([0, 1, 2], [3, 4, 5]), strict=True):
        x, x_hat = series.numpy()[:, :, group], rec[:, :, group]
        expected = r2_score(x.reshape(len(x), -1), x_hat.reshape(len(x), -1), multioutput="variance_weighted")
        assert report["reconstruction"]["per_temporal_category"][name] == pytest.approx(expected, abs=1e-5)


def test_progress_line_shows_the_monitored_objective() -> None:
    from spinlock.vqvae.cli import _describe_epoch

    record = {"train_total": 2.0, "train_objective": 1.5, "val_total": 3.0, "val_objective": 2.5}
    assert _describe_epoch(record) == "objective: train 1.5000 · val 2.5000"
    assert _describe_epoch({"train_total": 2.0}) == "total: train 2.0000"  # a history from before


class _StopAfter:
    """A progress receiver that interrupts training after ``n`` epochs (as Ctrl-C would)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def start(self, total_epochs: int, first_epoch: int) -> None:
        pass

    def epoch(self, record: dict[str, object]) -> None:
        if record["epoch"] == self.n - 1:
            raise KeyboardInterrupt

    def stop(self) -> None:
        pass


def test_resume_continues_the_same_loss_curve(tmp_path: Path) -> None:
    config = _config(epochs=6)
    straight, _, _ = _train(tmp_path / "a", config)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path / "b", config, progress=_StopAfter(3))
    resumed, _, _ = _train(tmp_path / "b", config, resume=True)
    a = [h["train_total"] for h in straight.history]
    b = [h["train_total"] for h in resumed.history]
    assert len(b) == 6
    np.testing.assert_allclose(b, a, rtol=1e-6)
    np.testing.assert_array_equal(
        resumed.tokenizer.tokenize(_table()[0]), straight.tokenizer.tokenize(_table()[0])
    )


def test_resume_refuses_another_config(tmp_path: Path) -> None:
    _train(tmp_path, _config(epochs=2))
    with pytest.raises(TrainingError, match="another config"):
        _train(tmp_path, _config(epochs=3, learning_rate=1e-2), resume=True)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a readable Spinlock checkpoint"),
        (b"PK\x03\x04garbage", "not a readable Spinlock checkpoint"),
        (None, "not a Spinlock VQ-VAE checkpoint"),
    ],
)
def test_foreign_or_corrupt_checkpoints_are_refused(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "model.pt"
    if content is None:
        torch.save({"weights": torch.zeros(2)}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_checkpoints_of_the_older_format_are_refused(tmp_path: Path) -> None:
    from spinlock.core.training import save_payload
    from spinlock.vqvae.checkpoint import FORMAT

    path = tmp_path / "model.pt"
    save_payload(path, {"weights": {}}, format_name=FORMAT, format_version=1)
    with pytest.raises(CheckpointError, match="format version 1 was written by an older spinlock-vqvae"):
        load_checkpoint(path)


def test_pickled_code_is_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (marker.write_text, ("x",))

    torch.save({"format": "spinlock-vqvae-checkpoint", "evil": Evil()}, tmp_path / "model.pt")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "model.pt")
    assert not marker.exists()


# --------------------------------------------------------------------------------------------- command line


def _dataset_with_features(path: Path, n: int = 96) -> Path:
    make_tiny_dataset(path, n=n, with_trajectories=False)
    static, temporal, _ = _planted(n, seed=3)
    with DatasetWriter.open_for_extraction(path) as writer:
        for family, values in static.items():
            writer.replace_features(family, [f"x{i}" for i in range(values.shape[1])], "1.0", "test")
            writer.write_features(family, np.arange(n), values.astype(np.float32))
        writer.replace_features("temporal", ["sin", "square"], "1.0", "test", per_timestep_T=6)
        writer.write_features("temporal", np.arange(n), temporal)
    return path


def _config_file(tmp_path: Path, **training: object) -> Path:
    path = tmp_path / "tok.yaml"
    path.write_text(dump_config(_config(**training), make_converter()))
    return path


def test_train_and_tokenize_commands(tmp_path: Path) -> None:
    data = _dataset_with_features(tmp_path / "d.h5")
    config = _config_file(tmp_path, epochs=5, validation_fraction=0.2)
    app = build_app()
    out = runner.invoke(
        app, ["train-vqvae", "-d", str(data), "-o", str(tmp_path / "m"), "-c", str(config), "-q", "--json"]
    )
    assert out.exit_code == 0, out.output
    metrics = json.loads(out.stdout)
    assert set(metrics["codebooks"]) and metrics["training"]["epochs_run"] == 5
    assert (tmp_path / "m" / "report.txt").read_text().startswith("samples")
    # a second run into the same directory is refused; --resume continues it
    again = runner.invoke(app, ["train-vqvae", "-d", str(data), "-o", str(tmp_path / "m"), "-c", str(config)])
    assert again.exit_code == 2 and "already holds a model" in again.output

    out = runner.invoke(app, ["tokenize", "-m", str(tmp_path / "m"), "-d", str(data), "--json"])
    assert out.exit_code == 0, out.output
    with open_dataset(data) as reader:
        tokens = reader.tokens("vqvae")
        status = np.asarray(reader.status())
    assert tokens.ids.shape == (96, 3, 3) and tokens.levels == ("coarse", "medium", "fine")
    assert (tokens.ids[status == "ok"] >= 0).all()
    assert (tokens.ids[status != "ok"] == -1).all()

    # the same features as plain arrays give the same tokens
    static, temporal, _ = _planted(96, seed=3)
    arrays = tmp_path / "features.npz"
    np.savez(arrays, **static, temporal=temporal)
    out = runner.invoke(
        app, ["tokenize", "-m", str(tmp_path / "m"), "--array", str(arrays), "-o", str(tmp_path / "ids.npy")]
    )
    assert out.exit_code == 0, out.output
    ids = np.load(tmp_path / "ids.npy")
    np.testing.assert_array_equal(ids[status == "ok"], tokens.ids[status == "ok"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train-vqvae", "-d", "{data}", "-o", "{tmp}/x", "-c", "{bad_config}"], "epochs"),
        (
            ["train-vqvae", "-d", "{data}", "-o", "{tmp}/x", "-c", "{no_static}"],
            "'static' needs at least one",
        ),
        (["train-vqvae", "-d", "{tmp}/missing.h5", "-o", "{tmp}/x"], "missing.h5"),
        (["train-vqvae", "-d", "{data}", "-o", "{tmp}/x"], "feature families"),
        (["train-vqvae", "-d", "{data}", "-o", "{tmp}/x", "--resume"], "nothing to resume"),
        (["tokenize", "-m", "{tmp}/nomodel", "-d", "{data}"], "no such checkpoint"),
        (["tokenize", "-m", "{tmp}/nomodel"], "exactly one of --dataset or --array"),
    ],
)
def test_bad_input_exits_2_with_a_message(tmp_path: Path, args: list[str], message: str) -> None:
    data = _dataset_with_features(tmp_path / "d.h5", n=16)
    bad = tmp_path / "bad.yaml"
    bad.write_text("training: {epochs: 0}\n")
    no_static = tmp_path / "no_static.yaml"
    no_static.write_text("families: {static: []}\n")
    filled = [a.format(data=data, tmp=tmp_path, bad_config=bad, no_static=no_static) for a in args]
    out = runner.invoke(build_app(), filled)
    assert out.exit_code == 2, out.output
    assert message in out.output
    assert "Traceback" not in out.output


@pytest.mark.slow
def test_compiled_networks_train_like_eager(tmp_path: Path) -> None:
    """``training.compile`` compiles the encoder/decoder passes only; losses match eager to float tolerance."""
    histories = {}
    for compiled in (False, True):
        result, _, _ = _train(tmp_path / str(compiled), _config(epochs=3, compile=compiled))
        histories[compiled] = [record["train_total"] for record in result.history]
        assert "_encode" not in vars(result.tokenizer.model)  # the compiled callables are dropped afterwards
    np.testing.assert_allclose(histories[True], histories[False], rtol=1e-4)
