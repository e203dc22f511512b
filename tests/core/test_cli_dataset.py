"""``spinlock info`` and ``spinlock validate``: output, exit codes, and no traceback on bad files.

Exit codes: ``info`` 0 or 2 (unreadable); ``validate`` 0 valid, 1 problems listed, 2 unreadable.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest
import typer
from typer.testing import CliRunner

from spinlock.core.testing.datasets import (
    BROKEN_KINDS,
    held_open_for_writing,
    make_broken_file,
    make_tiny_dataset,
)


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    try:
        from spinlock.core.cli import build_app

        return build_app(with_plugins=False)
    except ImportError:
        from spinlock.core.cli import dataset_commands

        fresh = typer.Typer()
        dataset_commands.register(fresh)
        return fresh


@pytest.fixture
def run(app: typer.Typer):
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [str(arg) for arg in args])

    return invoke


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return make_tiny_dataset(tmp_path / "tiny.h5", n=4, size=8, steps=5, stride=2)


def test_info_table(run, tiny: Path) -> None:
    result = run("info", tiny)
    assert result.exit_code == 0, result.output
    for text in ("format version", "4 of 4", "modes, dt, residual, activation", "(N, 3, 8, 8)",
                 "stride 2 of 5 steps", "features: temporal", "D=3 x T=3", "diverged 1, ok 3",
                 "spinlock-core 0.1.0"):  # fmt: skip
        assert text in result.stdout, text


def test_info_json(run, tiny: Path) -> None:
    result = run("info", tiny, "--json")
    assert result.exit_code == 0
    summary = json.loads(result.stdout)
    assert summary["n_operators"] == 4 and summary["completed"] == 4 and summary["format_version"] == 1
    assert summary["trajectories"] == {
        "shape": [4, 2, 3, 3, 8, 8],
        "stride": 2,
        "steps": 5,
        "dtype": "float32",
    }
    assert summary["features"]["summary"] == {"dim": 3, "per_timestep": None, "version": "1.0",
                                              "provider": "spinlock-core"}  # fmt: skip
    assert summary["status"] == {"diverged": 1, "ok": 3}
    assert summary["initial_conditions"]["types"] == {
        "gaussian_random_field": 2,
        "sinusoidal": 1,
        "vortex": 1,
    }


def test_info_without_trajectories(run, tmp_path: Path) -> None:
    path = make_tiny_dataset(tmp_path / "nt.h5", with_trajectories=False)
    result = run("info", path)
    assert result.exit_code == 0 and "not stored" in result.stdout
    assert json.loads(run("info", path, "--json").stdout)["trajectories"] is None


def test_validate_ok(run, tiny: Path) -> None:
    result = run("validate", tiny)
    assert result.exit_code == 0 and result.stdout.strip() == "ok"
    assert json.loads(run("validate", tiny, "--json").stdout) == {
        "path": str(tiny),
        "valid": True,
        "problems": [],
    }


def test_validate_lists_problems_and_exits_1(run, tiny: Path) -> None:
    with h5py.File(tiny, "r+") as f:
        del f["initial_conditions/types"]
        f["trajectories/fields"].attrs["stride"] = 1
    result = run("validate", tiny)
    assert result.exit_code == 1
    assert "/initial_conditions/types: missing" in result.stdout
    assert "needs ceil(5/1) = 5" in result.stdout
    listed = json.loads(run("validate", tiny, "--json").stdout)
    assert listed["valid"] is False and len(listed["problems"]) == 2


@pytest.mark.parametrize("command", ["info", "validate"])
@pytest.mark.parametrize("kind", [*BROKEN_KINDS, "missing"])
def test_unreadable_files_exit_2_with_a_message(run, tmp_path: Path, command: str, kind: str) -> None:
    path = tmp_path / f"{kind}.h5"
    if kind != "missing":
        make_broken_file(path, kind)
    result = run(command, path)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}: ")
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stdout == ""


def test_info_names_a_missing_group(run, tiny: Path) -> None:
    with h5py.File(tiny, "r+") as f:
        del f["rollout"]
    result = run("info", tiny)
    assert result.exit_code == 2 and "missing /rollout/status" in result.stderr


def test_file_open_for_writing_elsewhere(run, tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HDF5_USE_FILE_LOCKING", "TRUE")
    with held_open_for_writing(tiny):
        for command in ("info", "validate"):
            result = run(command, tiny)
            assert result.exit_code == 2
            assert "is open for writing by another process" in result.stderr
