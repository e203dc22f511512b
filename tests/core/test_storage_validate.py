"""validate_dataset: one Problem per inconsistency; a single fatal problem for unreadable files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from spinlock.core.storage import DatasetWriter, Problem, validate_dataset
from spinlock.core.testing.datasets import BROKEN_KINDS, make_broken_file, make_tiny_dataset


def test_a_valid_dataset_has_no_problems(tmp_path: Path) -> None:
    assert validate_dataset(make_tiny_dataset(tmp_path / "ok.h5", stride=3, steps=7)) == []


@pytest.mark.parametrize("kind", BROKEN_KINDS)
def test_unreadable_files_give_one_fatal_problem(tmp_path: Path, kind: str) -> None:
    problems = validate_dataset(make_broken_file(tmp_path / f"{kind}.h5", kind))
    assert len(problems) == 1 and problems[0].fatal and problems[0].path == "/"


def test_missing_file_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    assert validate_dataset(tmp_path / "nope.h5") == [Problem("/", "no such file", fatal=True)]


def test_incomplete_samples_are_summarised(tmp_path: Path) -> None:
    path = tmp_path / "partial.h5"
    with DatasetWriter.create(
        path,
        n_operators=64,
        parameter_names=["a"],
        parameter_dtypes={"a": float},
        ic_shape=(1, 4, 4),
        config_yaml="x: 1\n",
        provenance={},
        seed=0,
    ) as writer:
        writer.write_parameters_all(np.full((64, 1), 0.5), {"a": np.zeros(64)}, {}, {})
        writer.write_batch(
            np.arange(52), ic_fields=np.zeros((52, 1, 4, 4)), ic_types=["t"] * 52, ic_kinds=["t"] * 52,
            status=["ok"] * 52,
        )  # fmt: skip
    assert validate_dataset(path) == [
        Problem("/progress/done", "12 of 64 samples are not complete; run `spinlock generate --resume`")
    ]


def _delete(name: str) -> Callable[[h5py.File], None]:
    def edit(f: h5py.File) -> None:
        del f[name]

    return edit


def _replace(name: str, data: np.ndarray) -> Callable[[h5py.File], None]:
    def edit(f: h5py.File) -> None:
        attrs = dict(f[name].attrs)
        del f[name]
        f[name] = data
        f[name].attrs.update(attrs)

    return edit


def _set_attr(name: str, key: str, value: object) -> Callable[[h5py.File], None]:
    def edit(f: h5py.File) -> None:
        f[name].attrs[key] = value

    return edit


def _nan_ic(f: h5py.File) -> None:
    f["initial_conditions/fields"][2, 0, 0, 0] = np.nan


def _status(f: h5py.File) -> None:
    f["rollout/status"][0] = "exploded"


BROKEN = [
    ("missing group", _delete("rollout"), "/rollout/status", "missing"),
    ("missing dataset", _delete("initial_conditions/kinds"), "/initial_conditions/kinds", "missing"),
    ("wrong N", _replace("initial_conditions/types", np.array(["a"] * 3, dtype=object)), "/initial_conditions/types",
     "does not match N = 8"),
    ("wrong dtype", _replace("parameters/unit", np.zeros((8, 4), np.float32)), "/parameters/unit",
     "dtype must be float64"),
    ("wrong ndim", _replace("initial_conditions/fields", np.zeros((8, 3, 16), np.float32)),
     "/initial_conditions/fields", "must have 4 dimensions"),
    ("stride mismatch", _set_attr("trajectories/fields", "stride", 3), "/trajectories/fields", "ceil(4/3) = 2"),
    ("names length", _set_attr("parameters/unit", "names", '["modes"]'), "/parameters/unit", "1 entries for 4"),
    ("unlisted parameter", _set_attr("parameters/unit", "names", '["modes", "dt", "residual", "x"]'),
     "/parameters/x", "missing"),
    ("unit out of range", _replace("parameters/unit", np.full((8, 4), 1.5)), "/parameters/unit", "[0, 1)"),
    ("feature names", _set_attr("features/summary/values", "names", '["a"]'), "/features/summary/values",
     "JSON list of 3 column names"),
    ("feature version", lambda f: f["features/temporal/values"].attrs.__delitem__("version"),
     "/features/temporal/values", "missing attribute 'version'"),
    ("bad json", _set_attr("/", "provenance", "{not json"), "/", "not valid JSON"),
    ("status value", _status, "/rollout/status", "invalid statuses ['exploded']"),
    ("diverged step", lambda f: f["rollout/diverged_step"].__setitem__(0, 5), "/rollout/diverged_step",
     "inconsistent with their status"),
    ("nan ic", _nan_ic, "/initial_conditions/fields", "1 complete samples have non-finite initial conditions"),
    ("missing root attr", lambda f: f.attrs.__delitem__("seed"), "/", "missing root attribute 'seed'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("edit", "where", "message"), [case[1:] for case in BROKEN], ids=[c[0] for c in BROKEN]
)
def test_each_inconsistency_is_reported(tmp_path: Path, edit, where: str, message: str) -> None:
    path = make_tiny_dataset(tmp_path / "d.h5")
    with h5py.File(path, "r+") as f:
        edit(f)
    problems = validate_dataset(path)
    assert problems and not any(p.fatal for p in problems)
    assert any(p.path == where and message in p.message for p in problems), problems
