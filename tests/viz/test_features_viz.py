"""``spinlock visualize features``: pages, correlation order, token-category grouping, registration, bad input."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import typer
from scipy.stats import spearmanr
from typer.testing import CliRunner

from spinlock.core.testing import make_tiny_dataset
from spinlock.core.testing.datasets import make_broken_file
from spinlock.features.viz import (
    DROPPED_GROUP,
    cluster_order,
    grouped_order,
    load_tokenizer_categories,
    register_visualize,
    render_feature_pictures,
    spearman_matrix,
)

pytest.importorskip("matplotlib")

PNG = b"\x89PNG\r\n\x1a\n"


def _app() -> typer.Typer:
    app = typer.Typer()
    register_visualize(app)
    return app


def _png_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def test_pages_of_histograms_correlation_and_curves(tmp_path: Path) -> None:
    data = make_tiny_dataset(tmp_path / "d.h5", n=12, steps=6, with_trajectories=False)
    result = render_feature_pictures(data, tmp_path / "out", per_page=2, operators=[0, 3])
    names = {family: [p.name for p in paths] for family, paths in result.files.items()}
    # 3 columns at 2 a page: 2 pages; the per-timestep family also gets its curves
    assert names["summary"] == ["histograms_01.png", "histograms_02.png", "correlation.png"]
    assert names["temporal"] == [
        "histograms_01.png",
        "histograms_02.png",
        "correlation.png",
        "curves_01.png",
        "curves_02.png",
    ]
    for path in result.all_files():
        assert path.read_bytes()[:8] == PNG
        width, height = _png_size(path)
        assert width >= 200 and height >= 150
    assert result.grouping == {"summary": "clustering", "temporal": "clustering"}


def test_spearman_matrix_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(40, 5))
    values[:, 3] = np.round(values[:, 0] * 2)  # ties
    values[:, 4] = 7.0  # constant
    corr = spearman_matrix(values)
    expected = spearmanr(values[:, :4]).statistic
    np.testing.assert_allclose(corr[:4, :4], expected, atol=1e-12)
    assert corr[4, 4] == 1.0 and not corr[4, :4].any()


def test_cluster_order_puts_correlated_columns_together() -> None:
    rng = np.random.default_rng(1)
    latent = rng.normal(size=(200, 3))
    columns, group = [], []
    for g in range(3):
        for _ in range(4):
            columns.append(latent[:, g] * rng.choice([-1, 1]) + 0.2 * rng.normal(size=200))
            group.append(g)
    shuffle = rng.permutation(12)
    values = np.stack(columns, axis=1)[:, shuffle]
    labels = np.asarray(group)[shuffle]
    order = cluster_order(spearman_matrix(values))
    assert sorted(order) == list(range(12))
    ordered = labels[order]
    # each planted group is one contiguous block
    assert sum(ordered[1:] != ordered[:-1]) == 2
    order, spans = grouped_order(spearman_matrix(values), [("b", [1, 2]), ("a", [0, 3, 4])])
    assert spans == [("b", 0, 2), ("a", 2, 5)] and sorted(order[:2]) == [1, 2]


def test_columns_are_grouped_by_the_tokenizers_categories(tokenized: dict[str, Path], tmp_path: Path) -> None:
    categories = load_tokenizer_categories(tokenized["model"])
    names = [f"x{i}" for i in range(6)]
    groups = categories.groups("alpha", names)
    assert groups is not None
    members = sorted(i for _, idx in groups for i in idx)
    assert members == list(range(6))  # a partition (dropped columns form their own group)
    for name, idx in groups:
        if name != DROPPED_GROUP:
            assert all(categories.of_column[f"alpha::{names[i]}"] == name for i in idx)
    assert categories.groups("temporal", ["sin", "square"]) == [("temporal", [0, 1])]
    assert categories.groups("summary", ["mean"]) is None

    # the dataset's tokens name the model, so no --model is needed
    result = render_feature_pictures(
        tokenized["dataset"], tmp_path / "out", families=["alpha", "beta", "summary"]
    )
    assert result.grouping["alpha"] == str(tokenized["model"])
    assert result.grouping["beta"] == str(tokenized["model"])
    assert result.grouping["summary"] == "clustering"  # not read by the tokenizer


def test_visualize_group_is_shared_whatever_the_registration_order() -> None:
    from spinlock.operators.gallery_cli import register_visualize as register_operators
    from spinlock.vqvae.viz import register_visualize as register_vqvae

    for order in (
        (register_visualize, register_operators, register_vqvae),
        (register_operators, register_vqvae, register_visualize),
    ):
        app = typer.Typer()
        for register in order:
            register(app)
        assert len(app.registered_groups) == 1
        commands = {info.name for info in app.registered_groups[0].typer_instance.registered_commands}
        assert {"features", "rollouts", "ic-types", "vqvae"} <= commands


def test_the_spinlock_app_lists_every_visualize_command() -> None:
    from spinlock.core.cli.app import build_app

    result = CliRunner().invoke(build_app(), ["visualize", "--help"])
    assert result.exit_code == 0
    for command in ("features", "rollouts", "ic-types", "vqvae"):
        assert command in result.stdout


def test_cli_writes_pictures(tmp_path: Path) -> None:
    data = make_tiny_dataset(tmp_path / "d.h5", n=6, with_trajectories=False)
    result = CliRunner().invoke(
        _app(), ["visualize", "features", str(data), "-o", str(tmp_path / "o"), "-f", "summary"]
    )
    assert result.exit_code == 0, result.output
    written = result.stdout.split()
    assert written == [str(tmp_path / "o" / "summary" / n) for n in ("histograms_01.png", "correlation.png")]


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (None, [], "no such file"),
        ("foreign", [], "not a Spinlock dataset"),
        ("tiny", ["-f", "nope"], "no feature families ['nope']"),
        ("tiny", ["--operators", "x"], "--operators must be integers"),
        ("tiny", ["--operators", "99"], "outside [0, 4)"),
        ("tiny", ["--model", "{tmp}/missing"], "no such folder"),
        ("tiny", ["--model", "{tmp}"], "no such checkpoint"),
    ],
)
def test_cli_bad_input_exits_2(tmp_path: Path, make: str | None, args: list[str], message: str) -> None:
    path = tmp_path / "d.h5"
    if make == "tiny":
        make_tiny_dataset(path, n=4, with_trajectories=False)
    elif make is not None:
        make_broken_file(path, make)  # type: ignore[arg-type]
    args = [a.format(tmp=tmp_path) for a in args]
    result = CliRunner().invoke(
        _app(), ["visualize", "features", str(path), "-o", str(tmp_path / "o"), *args]
    )
    assert result.exit_code == 2, result.output
    assert "error:" in result.stderr and message in result.stderr
    assert "Traceback" not in result.output


def test_missing_matplotlib_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_tiny_dataset(tmp_path / "d.h5", n=2, with_trajectories=False)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = CliRunner().invoke(_app(), ["visualize", "features", str(path), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "pip install 'spinlock-features[viz]'" in result.stderr
