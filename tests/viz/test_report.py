"""``spinlock report``: one self-contained HTML page with every section, embedded images and no external
resources; a screenshot in headless Chromium when one is installed; bad input."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from spinlock.core.testing import make_tiny_dataset
from spinlock.core.testing.datasets import make_broken_file
from spinlock.vqvae.report_html import SECTIONS, build_report, register_report, write_report

pytest.importorskip("matplotlib")

IMAGE = re.compile(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">')
#: names a Chromium binary goes by; SPINLOCK_CHROMIUM overrides the search
CHROMIUM_NAMES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome",
    "chrome-headless-shell",
    "headless_shell",
)


def find_chromium() -> str | None:
    """A headless-capable Chromium on PATH (or ``$SPINLOCK_CHROMIUM``), else ``None``."""
    override = os.environ.get("SPINLOCK_CHROMIUM")
    if override:
        return shutil.which(override) or (override if Path(override).is_file() else None)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """A group, so that ``report`` is a subcommand as in ``spinlock``."""

    register_report(app)
    return app


def assert_self_contained(page: str) -> list[bytes]:
    """No external resource or script; returns the embedded PNGs (each checked to be a PNG)."""
    lowered = page.lower()
    for forbidden in ('src="http', "src='http", 'href="http', "<script", "<link", "@import", "url("):
        assert forbidden not in lowered, forbidden
    assert all(src.startswith('src="data:image/png;base64,') for src in re.findall(r'src="[^"]{0,40}', page))
    images = [base64.b64decode(data) for data in IMAGE.findall(page)]
    assert all(png[:8] == b"\x89PNG\r\n\x1a\n" for png in images)
    return images


def test_report_with_tokens_and_model(tokenized: dict[str, Path], tmp_path: Path) -> None:
    result = write_report(tokenized["dataset"], tmp_path / "r.html", model=tokenized["model"], per_token=2)
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert result.sections == list(SECTIONS)
    assert re.findall(r"<h2>(.*?)</h2>", page) == list(SECTIONS)
    images = assert_self_contained(page)
    assert len(images) == result.images >= 10
    # token statistics and example rollouts of every coarse token of the first category (4 codes)
    assert "Token set <code>vqvae</code>" in page and "perplexity" in page
    examples = page.split("<h2>Example rollouts per coarse token</h2>")[1]
    assert len(IMAGE.findall(examples)) == 4
    assert "Source: stored trajectories" in examples
    assert "held-out reconstruction R²" in page


def test_report_replays_rollouts_when_none_are_stored(generated: dict[str, Path]) -> None:
    result = build_report(generated["replay"])
    page = result.html
    assert_self_contained(page)
    assert re.findall(r"<h2>(.*?)</h2>", page) == list(SECTIONS)
    examples = page.split("<h2>Example rollouts per coarse token</h2>")[1]
    assert "No token sets are stored" in examples
    assert "recomputed from the stored config" in examples
    assert len(IMAGE.findall(examples)) == 1


def test_report_without_spinlock_operators_says_so(
    generated: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "spinlock.operators.viz.rollouts", None)
    result = build_report(generated["replay"])
    assert result.sections == list(SECTIONS)
    assert "needs spinlock-operators, which is not installed" in result.html
    assert result.notes and "spinlock-operators" in result.notes[0]


def test_report_in_headless_chromium(tokenized: dict[str, Path], tmp_path: Path) -> None:
    chromium = find_chromium()
    if chromium is None:
        if os.environ.get("SPINLOCK_REQUIRE_CHROMIUM"):
            pytest.fail("SPINLOCK_REQUIRE_CHROMIUM is set but no chromium binary was found")
        pytest.skip(
            f"no chromium binary found on PATH (looked for {', '.join(CHROMIUM_NAMES)}; set SPINLOCK_CHROMIUM)"
        )
    page = tmp_path / "r.html"
    write_report(tokenized["dataset"], page, model=tokenized["model"])
    source = page.read_text(encoding="utf-8")
    shot = tmp_path / "shot.png"
    browser = [chromium, "--headless", "--disable-gpu", "--no-sandbox", "--enable-logging=stderr", "--v=0"]
    shown = subprocess.run(
        [
            *browser,
            "--hide-scrollbars",
            "--window-size=1200,2400",
            f"--screenshot={shot}",
            page.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # the DOM as Chromium built it: every section and every embedded picture made it into the page
    dom = subprocess.run(
        [*browser, "--dump-dom", page.resolve().as_uri()],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert re.findall(r"<h2>(.*?)</h2>", dom.stdout) == list(SECTIONS)
    assert len(IMAGE.findall(dom.stdout)) == len(IMAGE.findall(source)) >= 10
    for log in (shown.stderr, dom.stderr):  # page errors reach stderr as CONSOLE / Uncaught lines
        problems = [line for line in log.splitlines() if "CONSOLE" in line or "Uncaught" in line]
        assert not problems, problems
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1200, 2400)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is None or len(colours) > 50  # text and pictures, not a blank page


def test_cli_writes_the_page(tokenized: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "sub" / "report.html"
    result = CliRunner().invoke(
        _app(), ["report", str(tokenized["dataset"]), "-o", str(out), "--per-token", "1"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    assert_self_contained(out.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (None, [], "no such file"),
        ("foreign", [], "not a Spinlock dataset"),
        ("truncated", [], "d.h5"),
        ("tiny", ["--model", "{tmp}/missing"], "no such model folder"),
        ("tiny", ["--tokens", "nope"], "no token set 'nope'"),
        ("tiny", ["-o", "{tmp}/report.txt"], "name it *.html"),
        ("tiny", ["--per-token", "5"], "--per-token"),
    ],
)
def test_cli_bad_input_exits_2(tmp_path: Path, make: str | None, args: list[str], message: str) -> None:
    path = tmp_path / "d.h5"
    if make == "tiny":
        make_tiny_dataset(path, n=4, size=8)
    elif make is not None:
        make_broken_file(path, make)  # type: ignore[arg-type]
    argv = ["report", str(path), "-o", str(tmp_path / "r.html"), *[a.format(tmp=tmp_path) for a in args]]
    result = CliRunner().invoke(_app(), argv)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "r.html").exists()


def test_missing_matplotlib_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_tiny_dataset(tmp_path / "d.h5", n=2, size=8)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = CliRunner().invoke(_app(), ["report", str(path), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 2
    assert "pip install 'spinlock-vqvae[viz]'" in result.stderr
