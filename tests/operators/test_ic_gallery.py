"""The initial-condition gallery: ``to_rgb``, ``render_ic_gallery`` and ``spinlock visualize ic-types``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from spinlock.core.plugins import build_plugin_manager
from spinlock.operators.gallery import (
    MissingDependencyError,
    gallery_layout,
    ic_specs_by_tier,
    normalise,
    render_ic_gallery,
    to_rgb,
)
from spinlock.operators.gallery_cli import register_visualize
from spinlock.operators.plugin import TIER_NAMES

SIZE = 32


@pytest.fixture(scope="module")
def manager():
    return build_plugin_manager(strict=True)


def test_to_rgb_preserves_order_and_maps_extremes() -> None:
    rng = np.random.default_rng(0)
    field = rng.normal(size=(3, 16, 16)) * np.array([1.0, 10.0, 1e-3])[:, None, None] + 5.0
    rgb = to_rgb(field, clip_percent=0.0)
    assert rgb.shape == (16, 16, 3)
    assert rgb.dtype == np.uint8
    for c in range(3):
        values, image = field[c].ravel(), rgb[..., c].ravel().astype(int)
        order = np.argsort(values)
        assert (np.diff(image[order]) >= 0).all(), f"channel {c} ordering not preserved"
        assert image[np.argmin(values)] == 0
        assert image[np.argmax(values)] == 255


def test_to_rgb_robust_clipping_still_monotone() -> None:
    field = np.linspace(-1.0, 1.0, 3 * 1600).reshape(3, 40, 40)
    field[0, 0, 0] = -1e6  # an outlier does not squash the rest of the channel
    rgb = to_rgb(field).astype(int)
    for c in range(3):
        order = np.argsort(field[c].ravel())
        assert (np.diff(rgb[..., c].ravel()[order]) >= 0).all()
        assert rgb[..., c].min() == 0
        assert rgb[..., c].max() == 255
    assert len(np.unique(rgb[..., 0])) > 50


@pytest.mark.parametrize("channels", [1, 2, 5])
def test_to_rgb_other_channel_counts(channels: int) -> None:
    field = np.random.default_rng(1).normal(size=(channels, 8, 8))
    rgb = to_rgb(field)
    assert rgb.shape == (8, 8, 3)
    if channels == 1:
        assert (rgb[..., 0] == rgb[..., 1]).all()
        assert (rgb[..., 0] == rgb[..., 2]).all()
    if channels == 2:
        assert (rgb[..., 2] == 0).all()


def test_normalise_constant_and_nonfinite_channels() -> None:
    field = np.zeros((2, 4, 4))
    field[1] = np.arange(16).reshape(4, 4)
    field[1, 0, 0] = np.nan
    unit = normalise(field)
    assert (unit[0] == 0).all()
    assert np.isfinite(unit).all()
    assert unit.min() >= 0.0
    assert unit.max() <= 1.0
    with pytest.raises(ValueError, match="C, H, W"):
        normalise(np.zeros((4, 4)))


def test_specs_grouped_in_five_tiers(manager) -> None:
    tiers = ic_specs_by_tier(manager)
    assert [name for name, _ in tiers] == list(TIER_NAMES)
    counts = [len(specs) for _, specs in tiers]
    assert counts[0] == 7
    assert max(counts) == 7
    assert sum(counts) >= 28


def test_render_writes_png_with_non_blank_panels(tmp_path: Path, manager) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.image as mpimg

    names: list[str] = []
    out = render_ic_gallery(tmp_path / "g.png", size=SIZE, seed=3, manager=manager, progress=names.append)
    assert out == tmp_path / "g.png"
    image = mpimg.imread(out)
    tiers = ic_specs_by_tier(manager)
    layout = gallery_layout(len(tiers), max(len(s) for _, s in tiers), size=SIZE)
    assert image.shape[:2] == (layout.height, layout.width)
    assert names == [spec.name for _, specs in tiers for spec in specs]
    for r, (_, specs) in enumerate(tiers):
        for c in range(len(layout.panels[r])):
            top, left, side = layout.panels[r][c]
            inner = image[top + 2 : top + side - 2, left + 2 : left + side - 2, :3]
            if c < len(specs):
                assert inner.std() > 0.01, f"panel {specs[c].name} is blank"
            else:
                assert (inner == 1.0).all(), f"empty slot ({r}, {c}) is not white"


def test_render_several_seeds_single_channel(tmp_path: Path, manager) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.image as mpimg

    out = render_ic_gallery(
        tmp_path / "g.png", seeds_per_type=2, channels=1, size=SIZE, dpi=50, manager=manager
    )
    image = mpimg.imread(out)
    layout = gallery_layout(10, 7, size=SIZE, dpi=50)
    assert image.shape[:2] == (layout.height, layout.width)
    top, left, side = layout.panels[0][0]
    first = image[top : top + side, left : left + side, :3]
    top, left, side = layout.panels[1][0]
    second = image[top : top + side, left : left + side, :3]
    assert not np.array_equal(first, second), "seed 0 and seed 1 look identical"


def test_render_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        render_ic_gallery(tmp_path / "g.gif")
    with pytest.raises(ValueError, match="seeds_per_type"):
        render_ic_gallery(tmp_path / "g.png", seeds_per_type=0)


def test_cli_writes_file(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    app = typer.Typer()
    register_visualize(app)
    out = tmp_path / "sub" / "ic.png"
    result = CliRunner().invoke(app, ["visualize", "ic-types", "-o", str(out), "--size", str(SIZE)])
    assert result.exit_code == 0, result.output
    assert out.is_file()
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(out) in result.stdout


def test_register_reuses_existing_visualize_group() -> None:
    app = typer.Typer()
    existing = typer.Typer()

    @existing.command("other")
    def other() -> None:
        """Another picture."""

    app.add_typer(existing, name="visualize")
    register_visualize(app)
    assert len(app.registered_groups) == 1
    names = [info.name for info in existing.registered_commands]
    assert names == ["other", "ic-types", "rollouts"]


def test_cli_missing_matplotlib_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependencyError, match=r"spinlock-operators\[viz\]"):
        render_ic_gallery(tmp_path / "g.png")
    app = typer.Typer()
    register_visualize(app)
    out = tmp_path / "ic.png"
    result = CliRunner().invoke(app, ["visualize", "ic-types", "-o", str(out)])
    assert result.exit_code == 2
    assert "matplotlib" in result.stderr
    assert "pip install 'spinlock-operators[viz]'" in result.stderr
    assert not out.exists()


def test_cli_module_imports_no_torch_or_matplotlib() -> None:
    code = (
        "import sys, spinlock.operators.gallery_cli, spinlock.operators.gallery\n"
        "bad = [m for m in ('torch', 'matplotlib') if m in sys.modules]\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
