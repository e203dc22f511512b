"""The source layout of the five distributions: PEP 420 namespace, hatchling, lockstep versions, entry points.

These read files only; nothing is built or imported.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
DISTS = ("core", "operators", "features", "vqvae", "noa")
EXAMPLE = ROOT / "examples" / "spinlock-example-plugin"


def dist_root(name: str) -> Path:
    return ROOT / f"spinlock-{name}"


def pyproject(path: Path) -> dict:
    return tomllib.loads((path / "pyproject.toml").read_text())


def source_version(name: str) -> str:
    tree = ast.parse((dist_root(name) / "src" / "spinlock" / name / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets
        ):
            assert isinstance(node.value, ast.Constant)
            return str(node.value.value)
    raise AssertionError(f"spinlock-{name}: no __version__ in src/spinlock/{name}/__init__.py")


def requirements(name_or_path: str | Path) -> list[Requirement]:
    path = name_or_path if isinstance(name_or_path, Path) else dist_root(name_or_path)
    return [Requirement(r) for r in pyproject(path)["project"].get("dependencies", [])]


def test_the_five_distributions_and_nothing_else_claim_the_namespace():
    claimed = sorted(p.parent.parent.name for p in ROOT.glob("*/src/spinlock"))
    assert claimed == sorted(f"spinlock-{name}" for name in DISTS)


@pytest.mark.parametrize("name", DISTS)
def test_spinlock_is_a_namespace_without_init(name):
    namespace = dist_root(name) / "src" / "spinlock"
    assert not (namespace / "__init__.py").exists(), "a stray spinlock/__init__.py hides the other packages"
    assert not (namespace / "py.typed").exists(), "py.typed belongs in the subpackage, not the namespace"
    assert sorted(p.name for p in namespace.iterdir() if p.name != "__pycache__") == [name]


@pytest.mark.parametrize("name", DISTS)
def test_distribution_files(name):
    root = dist_root(name)
    assert (root / "README.md").read_text().strip(), f"spinlock-{name}/README.md is empty"
    assert (root / "src" / "spinlock" / name / "__init__.py").is_file()
    assert (root / "src" / "spinlock" / name / "py.typed").is_file()


@pytest.mark.parametrize("name", DISTS)
def test_pyproject_uses_hatchling_and_the_source_version(name):
    data = pyproject(dist_root(name))
    assert data["build-system"]["build-backend"] == "hatchling.build"
    assert any(r.startswith("hatchling") for r in data["build-system"]["requires"])
    project = data["project"]
    assert project["name"] == f"spinlock-{name}"
    assert project["readme"] == "README.md"
    assert project["requires-python"] == ">=3.11"
    assert "version" in project.get("dynamic", []), "the version comes from __init__.py"
    assert data["tool"]["hatch"]["version"]["path"] == f"src/spinlock/{name}/__init__.py"
    assert data["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["src/spinlock"]


def test_versions_are_in_lockstep():
    versions = {f"spinlock-{name}": source_version(name) for name in DISTS}
    assert len(set(versions.values())) == 1, f"versions differ: {versions}"
    Version(versions["spinlock-core"])  # a valid PEP 440 version


@pytest.mark.parametrize("name", DISTS[1:])
def test_siblings_require_a_compatible_core(name):
    version = source_version("core")
    (core,) = [r for r in requirements(name) if r.name == "spinlock-core"]
    assert core.specifier.contains(version), f"spinlock-{name} requires {core}, core is {version}"
    # A range, not a pin: the next minor release is excluded, the current one admitted.
    assert any(spec.operator == "<" for spec in core.specifier), f"{core} has no upper bound"
    assert not any(spec.operator == "==" for spec in core.specifier)


@pytest.mark.parametrize("name", DISTS)
def test_sibling_requirements_admit_the_lockstep_version(name):
    version = source_version("core")
    for requirement in requirements(name):
        if requirement.name.startswith("spinlock-"):
            assert requirement.name.removeprefix("spinlock-") in DISTS
            assert requirement.specifier.contains(version), f"spinlock-{name}: {requirement}"


def test_dependency_direction():
    """Core depends on no sibling; operators, features and vqvae only on core (DESIGN §1)."""
    siblings = {
        name: {r.name for r in requirements(name) if r.name.startswith("spinlock-")} for name in DISTS
    }
    assert siblings["core"] == set()
    for name in ("operators", "features", "vqvae"):
        assert siblings[name] == {"spinlock-core"}, f"spinlock-{name} requires {siblings[name]}"
    assert "spinlock-core" in siblings["noa"]


@pytest.mark.parametrize("name", DISTS)
def test_torch_is_a_range_in_published_metadata(name):
    for requirement in requirements(name):
        if requirement.name == "torch":
            assert not any(spec.operator in {"==", "==="} for spec in requirement.specifier)


def test_constraints_pin_the_cpu_torch():
    lines = (ROOT / "constraints" / "ci.txt").read_text().splitlines()
    pins = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    (torch,) = [r for r in pins if r.name == "torch"]
    assert [spec.operator for spec in torch.specifier] == ["=="]


@pytest.mark.parametrize("name", DISTS[1:])
def test_first_party_plugins_register_through_the_entry_point_group(name):
    data = pyproject(dist_root(name))
    groups = data["project"].get("entry-points", {})
    assert groups.get("spinlock") == {name: f"spinlock.{name}.plugin"}
    assert (dist_root(name) / "src" / "spinlock" / name / "plugin.py").is_file()


def test_core_ships_the_cli_and_the_pytest_plugin():
    project = pyproject(dist_root("core"))["project"]
    assert project["scripts"] == {"spinlock": "spinlock.core.cli:main"}
    assert project["entry-points"]["pytest11"] == {"spinlock": "spinlock.core.testing.plugin"}
    # Core registers its own components directly, not through the group.
    assert "spinlock" not in project.get("entry-points", {})


def test_example_plugin_is_a_third_party_distribution():
    data = pyproject(EXAMPLE)
    project = data["project"]
    assert project["name"] == "spinlock-example-plugin"
    assert data["build-system"]["build-backend"] == "hatchling.build"
    assert project["entry-points"]["spinlock"] == {"example": "spinlock_example_plugin.plugin"}
    assert not (EXAMPLE / "src" / "spinlock").exists(), "third-party plugins stay outside the namespace"
    (core,) = [r for r in requirements(EXAMPLE) if r.name == "spinlock-core"]
    assert core.specifier.contains(source_version("core"))
