"""``spinlock visualize rollouts``: files, frame counts and sizes, faithful pixels, replay, bad input."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import typer
from scipy.stats import spearmanr
from typer.testing import CliRunner

from spinlock.core.storage import open_dataset
from spinlock.core.testing import make_tiny_dataset
from spinlock.core.testing.datasets import make_broken_file
from spinlock.operators.gallery_cli import register_visualize
from spinlock.operators.viz.rollouts import (
    ClipColoring,
    RolloutGrid,
    load_rollouts,
    parse_indices,
    radial_power,
    realization_variance,
    render_rollouts,
    resolve_channels,
)

pytest.importorskip("matplotlib")

T = 5


def _app() -> typer.Typer:
    app = typer.Typer()
    register_visualize(app)
    return app


def _gif_frames(path: Path) -> np.ndarray:
    iio = pytest.importorskip("imageio.v3")
    return np.asarray(iio.imread(path, index=None))


def _mp4_frames(path: Path) -> tuple[int, tuple[int, int]]:
    pytest.importorskip("imageio_ffmpeg")
    iio2 = pytest.importorskip("imageio.v2")
    reader = iio2.get_reader(path, format="FFMPEG")
    try:
        count = sum(1 for _ in reader)
        size = tuple(reader.get_meta_data()["size"])
    finally:
        reader.close()
    return count, (int(size[0]), int(size[1]))


def test_files_have_the_frame_counts_and_sizes_of_the_rollout(tmp_path: Path) -> None:
    pytest.importorskip("imageio_ffmpeg")
    data = make_tiny_dataset(tmp_path / "d.h5", n=4, size=8, steps=T, realizations=3)
    result = render_rollouts(data, [0, 2], tmp_path / "out", fps=5)
    assert set(result.files) == {"mp4", "gif", "png"}
    assert result.n_frames == T and result.sources == ("stored", "stored")
    width, height = result.frame_size
    assert width % 16 == 0 and height % 16 == 0

    gif = _gif_frames(result.files["gif"])
    assert gif.shape[0] == T
    assert gif.shape[1:3] == (height, width)
    assert _mp4_frames(result.files["mp4"]) == (T, (width, height))

    from PIL import Image

    with Image.open(result.files["png"]) as sheet:
        assert sheet.size == result.sheet_size
        assert sheet.format == "PNG"


def test_a_grayscale_frame_orders_pixels_like_the_field(tmp_path: Path) -> None:
    data = make_tiny_dataset(tmp_path / "d.h5", n=3, channels=1, size=8, steps=T, realizations=2)
    clips = load_rollouts(data, [1, 2])
    grid = RolloutGrid(clips, cmap="gray")
    assert grid.channel_mode == 0
    layout = grid.frame_layout
    lo, hi = clips[0].trajectories.min(), clips[0].trajectories.max()
    for t in (0, T - 1):
        frame = grid.frame(t)
        assert frame.shape == (layout.height, layout.width, 3)
        for row, clip in enumerate(clips):
            for m in range(2):
                field = clip.trajectories[m, t, 0]
                pixels = np.array(
                    [[frame[layout.cell_centre(row, m, i, j)] for j in range(8)] for i in range(8)]
                )
                assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()
                rho = spearmanr(field.ravel(), pixels[..., 0].ravel().astype(float)).statistic
                assert rho > 0.99, (t, row, m, rho)
    # the whole clip is normalised at once: its extreme values are pure black and white somewhere
    row0 = clips[0].trajectories
    where_min = np.unravel_index(np.argmin(row0), row0.shape)
    where_max = np.unravel_index(np.argmax(row0), row0.shape)
    assert lo < hi
    m, t, _, i, j = where_min
    assert tuple(grid.frame(int(t))[layout.cell_centre(0, int(m), int(i), int(j))]) == (0, 0, 0)
    m, t, _, i, j = where_max
    assert tuple(grid.frame(int(t))[layout.cell_centre(0, int(m), int(i), int(j))]) == (255, 255, 255)


def test_the_contact_sheet_png_shows_the_snapshots(tmp_path: Path) -> None:
    from PIL import Image

    data = make_tiny_dataset(tmp_path / "d.h5", n=2, channels=1, size=8, steps=T, realizations=2)
    result = render_rollouts(data, [0], tmp_path / "out", formats="png", cmap="gray", snapshots=3)
    clip = load_rollouts(data, [0])[0]
    grid = RolloutGrid([clip], cmap="gray", snapshots=3)
    with Image.open(result.files["png"]) as image:
        sheet = np.asarray(image.convert("RGB"))
    assert sheet.shape[:2] == (grid.sheet_layout.height, grid.sheet_layout.width)
    assert grid.snapshot_times == [0, 2, 4]
    for col, t in enumerate(grid.snapshot_times):
        pixels = np.array(
            [[sheet[grid.sheet_layout.cell_centre(0, col, i, j)][0] for j in range(8)] for i in range(8)]
        )
        rho = spearmanr(clip.trajectories[0, t, 0].ravel(), pixels.ravel().astype(float)).statistic
        assert rho > 0.99


def test_rgb_channels_are_each_normalised_over_the_whole_clip() -> None:
    rng = np.random.default_rng(0)
    clip = rng.normal(size=(2, 3, 3, 4, 4)) * np.array([1.0, 10.0, 100.0])[None, None, :, None, None]
    coloring = ClipColoring(clip, "rgb")
    rgb = coloring(clip)
    assert rgb.shape == (2, 3, 4, 4, 3)
    for c in range(3):
        assert rgb[..., c].min() == 0 and rgb[..., c].max() == 255
        rho = spearmanr(clip[:, :, c].ravel(), rgb[..., c].ravel().astype(float)).statistic
        assert rho > 0.99


def test_channel_modes() -> None:
    assert resolve_channels("auto", 3) == "rgb"
    assert resolve_channels("auto", 1) == 0
    assert resolve_channels("auto", 5) == "pca"
    assert resolve_channels("2", 5) == 2
    with pytest.raises(ValueError, match="needs 3 channels"):
        resolve_channels("rgb", 4)
    with pytest.raises(ValueError, match="outside"):
        resolve_channels("5", 5)
    with pytest.raises(ValueError, match="auto, rgb, pca"):
        resolve_channels("hsv", 3)
    # PCA: the first component (red) follows the direction of largest variance
    rng = np.random.default_rng(1)
    driver = rng.normal(size=(1, 2, 1, 6, 6))
    clip = np.concatenate([driver * w for w in (3.0, -2.0, 1.0, 0.5)], axis=2) + 0.01 * rng.normal(
        size=(1, 2, 4, 6, 6)
    )
    rgb = ClipColoring(clip, "pca")(clip)
    rho = spearmanr(driver.ravel(), rgb[..., 0].ravel().astype(float)).statistic
    assert abs(rho) > 0.99


def test_aggregate_panels() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(2, 4, 2, 8, 8))
    np.testing.assert_allclose(realization_variance(np.stack([a, b])), (((a - b) / 2) ** 2).sum(axis=1))
    y, x = np.mgrid[0:16, 0:16]
    wave = np.cos(2 * np.pi * 3 * x / 16) + 0.5 * np.sin(2 * np.pi * 5 * y / 16)
    power = radial_power(wave[None, None, None].repeat(2, axis=1))
    assert power.shape == (2, 9)
    assert int(np.argmax(power[0])) == 3 and int(np.argsort(power[0])[-2]) == 5
    assert power[0, 0] == pytest.approx(0.0, abs=1e-12)


def test_replay_gives_the_stored_trajectories(generated: dict[str, Path]) -> None:
    stored = load_rollouts(generated["stored"], [1, 6])
    replayed = load_rollouts(generated["replay"], [1, 6])
    assert [c.source for c in stored] == ["stored", "stored"]
    assert [c.source for c in replayed] == ["replayed", "replayed"]
    for a, b in zip(stored, replayed, strict=True):
        assert a.trajectories.shape == (2, 3, 3, 16, 16) and a.stride == b.stride == 2
        assert np.array_equal(a.trajectories, b.trajectories)
    again = load_rollouts(generated["stored"], [6], replay=True)
    assert again[0].source == "replayed" and np.array_equal(again[0].trajectories, stored[1].trajectories)


def test_cli_renders_a_dataset_without_trajectories(generated: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "pictures"
    result = CliRunner().invoke(
        _app(),
        [
            "visualize",
            "rollouts",
            str(generated["replay"]),
            "-i",
            "1,6",
            "--format",
            "gif,png",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [str(out / "rollouts.gif"), str(out / "rollouts.png")]
    with open_dataset(generated["replay"]) as reader:
        assert not reader.has_trajectories
    assert _gif_frames(out / "rollouts.gif").shape[0] == 3  # T' = ceil(6 / 2)


def test_parse_indices() -> None:
    assert parse_indices("0,3,5") == [0, 3, 5]
    assert parse_indices(" 2-4 , 7") == [2, 3, 4, 7]
    for bad, message in (
        ("a,b", "bad operator index"),
        ("1,1", "repeat"),
        ("-1", ">= 0"),
        ("4-2", "reversed"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_indices(bad)


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (None, [], "no such file"),
        ("foreign", [], "not a Spinlock dataset"),
        ("text", [], "d.h5"),
        ("tiny", ["-i", "a,b"], "bad operator index"),
        ("tiny", ["-i", "0,99"], "outside [0, 4)"),
        ("tiny", ["-i", "1,1"], "repeat"),
        ("tiny1", ["--channels", "rgb"], "needs 3 channels"),
        ("tiny", ["--channels", "7"], "outside [0, 3)"),
        ("tiny", ["--format", "avi"], "--format"),
        ("tiny", ["--cmap", "nope"], "unknown colormap"),
    ],
)
def test_cli_bad_input_exits_2(tmp_path: Path, make: str | None, args: list[str], message: str) -> None:
    path = tmp_path / "d.h5"
    if make == "tiny":
        make_tiny_dataset(path, n=4, size=8, steps=3)
    elif make == "tiny1":
        make_tiny_dataset(path, n=4, size=8, steps=3, channels=1)
    elif make is not None:
        make_broken_file(path, make)  # type: ignore[arg-type]
    result = CliRunner().invoke(
        _app(), ["visualize", "rollouts", str(path), "-o", str(tmp_path / "o"), "--format", "png", *args]
    )
    assert result.exit_code == 2, result.output
    assert "error:" in result.stderr and message in result.stderr
    assert "Traceback" not in result.output


def test_missing_matplotlib_or_ffmpeg_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_tiny_dataset(tmp_path / "d.h5", n=2, size=8, steps=2)
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "matplotlib", None)
        result = CliRunner().invoke(_app(), ["visualize", "rollouts", str(path), "-o", str(tmp_path / "a")])
    assert result.exit_code == 2
    assert "matplotlib" in result.stderr and "spinlock-operators[viz]" in result.stderr
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    result = CliRunner().invoke(_app(), ["visualize", "rollouts", str(path), "-o", str(tmp_path / "b")])
    assert result.exit_code == 2 and "imageio-ffmpeg" in result.stderr
    assert not (tmp_path / "b").exists()
    result = CliRunner().invoke(
        _app(), ["visualize", "rollouts", str(path), "-o", str(tmp_path / "c"), "--format", "gif,png"]
    )
    assert result.exit_code == 0, result.output
