"""``spinlock visualize vqvae``: the pictures of a trained tokenizer, the embeddings, bad input."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from spinlock.core.testing import make_tiny_dataset
from spinlock.core.testing.datasets import make_broken_file
from spinlock.vqvae.viz import embed_2d, read_model_folder, register_visualize, render_vqvae_pictures

pytest.importorskip("matplotlib")

PICTURES = ("training_curves", "codebooks", "categories", "embedding", "centroids")


def _app() -> typer.Typer:
    app = typer.Typer()
    register_visualize(app)
    return app


def _size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def test_every_picture_of_a_trained_tokenizer(tokenized: dict[str, Path], tmp_path: Path) -> None:
    result = render_vqvae_pictures(tokenized["model"], tmp_path / "all", dataset=tokenized["dataset"])
    assert tuple(result.files) == PICTURES and result.notes == []
    for name, path in result.files.items():
        assert path == tmp_path / "all" / f"{name}.png"
        width, height = _size(path)
        assert width >= 300 and height >= 200

    without = render_vqvae_pictures(tokenized["model"], tmp_path / "some")
    assert "embedding" not in without.files and len(without.files) == 4
    assert any("--dataset" in note for note in without.notes)


def test_pictures_need_only_the_model_when_metrics_and_history_are_gone(
    tokenized: dict[str, Path], tmp_path: Path
) -> None:
    model = tmp_path / "model"
    model.mkdir()
    shutil.copy(tokenized["model"] / "model.pt", model / "model.pt")
    result = render_vqvae_pictures(model, tmp_path / "out")
    assert list(result.files) == ["categories"]
    assert len(result.notes) == 4


def test_pca_embedding_keeps_distances_and_tsne_runs() -> None:
    rng = np.random.default_rng(0)
    plane = rng.normal(size=(50, 2)) * [3.0, 1.0]
    rotation, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    X = np.concatenate([plane, np.zeros((50, 3))], axis=1) @ rotation + 4.0
    xy = embed_2d(X, "pca")

    def distances(a: np.ndarray) -> np.ndarray:
        return np.linalg.norm(a[:, None] - a[None], axis=-1)

    np.testing.assert_allclose(distances(xy), distances(plane), atol=1e-9)
    assert embed_2d(X[:20], "tsne").shape == (20, 2)
    assert embed_2d(X[:, :1], "pca")[:, 1].tolist() == [0.0] * 50
    with pytest.raises(ValueError, match="pca, tsne"):
        embed_2d(X, "umap")


def test_cli_writes_the_pictures(tokenized: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "pics"
    result = CliRunner().invoke(
        _app(),
        ["visualize", "vqvae", str(tokenized["model"]), "-d", str(tokenized["dataset"]), "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [str(out / f"{name}.png") for name in PICTURES]


@pytest.mark.parametrize(
    ("model", "args", "message"),
    [
        ("{tmp}/missing", [], "no such model folder"),
        ("{tmp}", [], "no model.pt"),
        ("{model}", ["--embedding", "umap"], "--embedding must be one of"),
        ("{model}", ["-d", "{tmp}/missing.h5"], "no such file"),
        ("{model}", ["-d", "{foreign}"], "not a Spinlock dataset"),
        ("{model}", ["-d", "{tiny}"], "feature families"),
        ("{bad_history}", [], "history.json"),
    ],
)
def test_cli_bad_input_exits_2(
    tokenized: dict[str, Path], tmp_path: Path, model: str, args: list[str], message: str
) -> None:
    foreign = make_broken_file(tmp_path / "foreign.h5", "foreign")
    tiny = make_tiny_dataset(tmp_path / "tiny.h5", n=4, with_trajectories=False)
    bad_history = tmp_path / "bad"
    bad_history.mkdir()
    shutil.copy(tokenized["model"] / "model.pt", bad_history / "model.pt")
    (bad_history / "history.json").write_text("{not json")
    fill = {
        "tmp": tmp_path,
        "model": tokenized["model"],
        "foreign": foreign,
        "tiny": tiny,
        "bad_history": bad_history,
    }
    argv = [
        "visualize",
        "vqvae",
        model.format(**fill),
        "-o",
        str(tmp_path / "o"),
        *[a.format(**fill) for a in args],
    ]
    result = CliRunner().invoke(_app(), argv)
    assert result.exit_code == 2, result.output
    assert "error:" in result.stderr and message in result.stderr
    assert "Traceback" not in result.output


def test_missing_matplotlib_exits_2(
    tokenized: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert read_model_folder(tokenized["model"]).metrics is not None
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = CliRunner().invoke(
        _app(), ["visualize", "vqvae", str(tokenized["model"]), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert "pip install 'spinlock-vqvae[viz]'" in result.stderr
