"""The core commands: --version, list-plugins, validate-config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from spinlock.core.cli import build_app

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from spinlock.core.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


@pytest.fixture
def runner():
    from typer.testing import CliRunner

    return CliRunner()


def test_version_lists_installed_distributions(runner):
    result = runner.invoke(build_app(), ["--version"])
    assert result.exit_code == 0
    assert "spinlock-core 0.1.0" in result.stdout


def test_list_plugins_json_has_the_documented_fields(runner):
    result = runner.invoke(build_app(), ["list-plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    core = next(row for row in rows if row["name"] == "core")
    assert {"name", "distribution", "version", "components", "error"} <= set(core)
    assert "sobol" in core["components"]["sampler"]
    assert core["error"] is None


def test_list_plugins_kind_filter(runner):
    result = runner.invoke(build_app(), ["list-plugins", "--json", "--kind", "sampler"])
    rows = json.loads(result.stdout)
    assert all(set(row["components"]) <= {"sampler"} for row in rows)
    assert any(row["components"] for row in rows)
    table = runner.invoke(build_app(), ["list-plugins", "--kind", "sampler"])
    assert "Owen" in table.stdout


def test_list_plugins_unknown_kind_exits_2(runner):
    result = runner.invoke(build_app(), ["list-plugins", "--kind", "smapler"])
    assert result.exit_code == 2
    assert "did you mean 'sampler'" in result.output


def test_validate_config_ok_and_show(tmp_path, runner):
    path = tmp_path / "run.yaml"
    path.write_text("seed: 3\nparameter_space: {k: {type: integer, low: 1, high: 4}}\n")
    result = runner.invoke(build_app(), ["validate-config", str(path)])
    assert result.exit_code == 0 and "ok" in result.stdout
    shown = runner.invoke(build_app(), ["validate-config", str(path), "--show"])
    assert "seed: 3" in shown.stdout and "scramble: true" in shown.stdout


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("seed: [", "invalid YAML"),
        ("sedd: 1", "did you mean 'seed'"),
        ("seed: abc", "@ $.seed"),
        ("rollout: {steps: 0}", "'steps' must be >= 1: 0 @ $.rollout.steps"),
        ("sampling: {kind: sobl}", "did you mean 'sobol'"),
        ("", "empty"),
    ],
)
def test_validate_config_bad_input_exits_2_without_traceback(tmp_path, content, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    result = run_cli("validate-config", str(path))
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_every_shipped_config_validates(runner):
    configs = sorted((ROOT / "examples" / "configs").glob("*.yaml"))
    assert configs, "examples/configs holds the shipped configs"
    for path in configs:
        result = runner.invoke(build_app(), ["validate-config", str(path)])
        assert result.exit_code == 0, f"{path.name}: {result.output}"


def test_list_plugins_reports_broken_plugin_and_strict_exit(tmp_path):
    """A real broken distribution on sys.path: reported by name, others still listed, --strict exits 1."""
    dist = tmp_path / "spinlock_broken-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: spinlock-broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[spinlock]\nbroken = spinlock_broken_plugin_xyz\n")
    env = {**__import__("os").environ, "PYTHONPATH": str(tmp_path)}
    env.pop("SPINLOCK_STRICT_PLUGINS", None)
    result = run_cli("list-plugins", "--json", env=env)
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert "spinlock_broken_plugin_xyz" in rows["broken"]["error"]
    assert rows["core"]["error"] is None
    strict = run_cli("list-plugins", "--strict", env=env)
    assert strict.returncode == 1
    assert "broken (spinlock-broken 0.1)" in strict.stderr
