"""Contents of the built wheels and sdists: the PEP 420 rules only show in built artifacts.

Builds the five distributions into a temporary directory (``python -m build --no-isolation``; hatchling is
in the test environment), or, when ``SPINLOCK_WHEELHOUSE`` names a directory, checks the artifacts already
there (``nox -s build`` checks dist/ this way). Imports nothing from spinlock, so it also runs where no
spinlock distribution is installed.
"""

from __future__ import annotations

import ast
import configparser
import os
import subprocess
import sys
import tarfile
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
DISTS = ("core", "operators", "features", "vqvae", "noa")


def source_version(name: str) -> str:
    init = ROOT / f"spinlock-{name}" / "src" / "spinlock" / name / "__init__.py"
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            getattr(t, "id", None) == "__version__" for t in node.targets
        ):
            return str(ast.literal_eval(node.value))
    raise AssertionError(f"no __version__ in {init}")


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> Path:
    given = os.environ.get("SPINLOCK_WHEELHOUSE")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("wheelhouse")
    for name in DISTS:
        subprocess.run(
            [sys.executable, "-m", "build", "--no-isolation", "--wheel", "--sdist", "--outdir", str(out)],
            cwd=ROOT / f"spinlock-{name}",
            check=True,
            capture_output=True,
        )
    return out


def only(paths: list[Path], what: str) -> Path:
    assert len(paths) == 1, f"expected one {what}, found {[p.name for p in paths]}"
    return paths[0]


@pytest.fixture(scope="module")
def wheels(wheelhouse) -> dict[str, Path]:
    return {
        name: only(sorted(wheelhouse.glob(f"spinlock_{name}-*.whl")), f"spinlock-{name} wheel")
        for name in DISTS
    }


@pytest.fixture(scope="module")
def sdists(wheelhouse) -> dict[str, Path]:
    return {
        name: only(sorted(wheelhouse.glob(f"spinlock_{name}-*.tar.gz")), f"spinlock-{name} sdist")
        for name in DISTS
    }


def dist_info(zf: zipfile.ZipFile, filename: str) -> str | None:
    matches = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith(f".dist-info/{filename}")]
    return zf.read(matches[0]).decode() if matches else None


def entry_points(zf: zipfile.ZipFile) -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser(delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment, method-assign]  # names are case-sensitive
    parser.read_string(dist_info(zf, "entry_points.txt") or "")
    return {section: {k: v.strip() for k, v in parser[section].items()} for section in parser.sections()}


@pytest.mark.parametrize("name", DISTS)
def test_wheel_name_and_tags(wheels, name):
    assert wheels[name].name == f"spinlock_{name}-{source_version(name)}-py3-none-any.whl"


@pytest.mark.parametrize("name", DISTS)
def test_wheel_ships_only_its_own_subpackage(wheels, name):
    with zipfile.ZipFile(wheels[name]) as zf:
        files = zf.namelist()
    assert "spinlock/__init__.py" not in files, "the namespace must not have an __init__.py"
    assert "spinlock/py.typed" not in files, "py.typed belongs in the subpackage"
    top = {f.split("/", 1)[0] for f in files if not f.split("/", 1)[0].endswith(".dist-info")}
    assert top == {"spinlock"}
    outside = [f for f in files if f.startswith("spinlock/") and not f.startswith(f"spinlock/{name}/")]
    assert outside == [], f"spinlock-{name} ships files of another package: {outside}"
    assert f"spinlock/{name}/__init__.py" in files
    assert f"spinlock/{name}/py.typed" in files
    if name != "core":
        assert f"spinlock/{name}/plugin.py" in files
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]


@pytest.mark.parametrize("name", DISTS)
def test_wheel_metadata(wheels, name):
    version = source_version(name)
    with zipfile.ZipFile(wheels[name]) as zf:
        metadata = HeaderParser().parsestr(dist_info(zf, "METADATA") or "")
    assert metadata["Name"] == f"spinlock-{name}"
    assert metadata["Version"] == version
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert metadata.get_payload().strip(), "the README is the long description"
    requires = [Requirement(r) for r in metadata.get_all("Requires-Dist") or []]
    for requirement in requires:
        if requirement.name.startswith("spinlock-"):
            assert requirement.specifier.contains(version), f"{requirement} does not admit {version}"
        if requirement.name == "torch":
            assert not any(s.operator == "==" for s in requirement.specifier), "torch is pinned in metadata"
    if name != "core":
        assert "spinlock-core" in {r.name for r in requires}


@pytest.mark.parametrize("name", DISTS[1:])
def test_plugin_entry_point(wheels, name):
    with zipfile.ZipFile(wheels[name]) as zf:
        groups = entry_points(zf)
    assert groups.get("spinlock") == {name: f"spinlock.{name}.plugin"}
    assert "console_scripts" not in groups


def test_core_entry_points(wheels):
    with zipfile.ZipFile(wheels["core"]) as zf:
        groups = entry_points(zf)
    assert groups["console_scripts"] == {"spinlock": "spinlock.core.cli:main"}
    assert groups["pytest11"] == {"spinlock": "spinlock.core.testing.plugin"}
    assert "spinlock" not in groups


@pytest.mark.parametrize("name", DISTS)
def test_sdist_contents(sdists, name):
    with tarfile.open(sdists[name]) as tf:
        members = [m.split("/", 1)[1] for m in tf.getnames() if "/" in m]
    assert "pyproject.toml" in members
    assert "README.md" in members
    assert f"src/spinlock/{name}/__init__.py" in members
    assert f"src/spinlock/{name}/py.typed" in members
    assert "src/spinlock/__init__.py" not in members
    assert not [m for m in members if "__pycache__" in m or m.endswith(".pyc")]
