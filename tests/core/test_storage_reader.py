"""DatasetReader: typed accessors and a clear DatasetError for every kind of unusable file."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from spinlock.core.storage import DatasetError, DatasetReader, open_dataset
from spinlock.core.testing.datasets import (
    BROKEN_KINDS,
    held_open_for_writing,
    make_broken_file,
    make_tiny_dataset,
)

BROKEN_MESSAGES = {
    "text": "is not an HDF5 file",
    "empty": "is empty (0 bytes); not an HDF5 file",
    "truncated": "is truncated or corrupt",
    "foreign": "not a Spinlock dataset (no spinlock_format_version attribute); made by another tool?",
    "newer_version": "format version 7 is newer than this spinlock-core supports (1); upgrade spinlock-core",
}


def test_accessors_on_a_tiny_dataset(tmp_path: Path) -> None:
    path = make_tiny_dataset(tmp_path / "tiny.h5", n=6, channels=2, size=8, realizations=3, steps=5, stride=2)
    with open_dataset(path) as ds:
        assert ds.n_operators == 6 and ds.ic_shape == (2, 8, 8)
        assert ds.parameter_names == ["modes", "dt", "residual", "activation"]
        assert ds.unit_parameters().shape == (6, 4)
        assert ds.initial_conditions().shape == (6, 2, 8, 8) and ds.initial_conditions().dtype == np.float32
        assert ds.trajectory_shape == (6, 3, 3, 2, 8, 8) and ds.stride == 2 and ds.steps == 5
        assert ds.status() == ["ok"] * 5 + ["diverged"] and ds.diverged_step()[-1] == 4
        assert ds.features("temporal").values.shape == (6, 3, 3)
        assert ds.feature_info("summary").dim == 3
        assert ds.done().all()
        everything = ds.trajectories()
        # any order, repeats allowed: rows come back as asked
        np.testing.assert_array_equal(ds.trajectories([4, 0, 4]), everything[[4, 0, 4]])
        np.testing.assert_array_equal(
            ds.initial_conditions(np.array([5, 1])), ds.initial_conditions()[[5, 1]]
        )
        assert ds.trajectories([]).shape == (0, 3, 3, 2, 8, 8)


def test_same_arguments_give_the_same_content(tmp_path: Path) -> None:
    a = make_tiny_dataset(tmp_path / "a.h5", seed=3)
    b = make_tiny_dataset(tmp_path / "b.h5", seed=3)
    with DatasetReader(a) as ra, DatasetReader(b) as rb:
        np.testing.assert_array_equal(ra.trajectories(), rb.trajectories())
        np.testing.assert_array_equal(ra.unit_parameters(), rb.unit_parameters())


def test_a_dataset_without_trajectories(tmp_path: Path) -> None:
    path = make_tiny_dataset(tmp_path / "t.h5", with_trajectories=False)
    with open_dataset(path) as ds:
        assert not ds.has_trajectories
        assert ds.trajectories() is None and ds.stride is None and ds.trajectory_shape is None


@pytest.mark.parametrize("kind", BROKEN_KINDS)
def test_unusable_files_raise_a_dataset_error_naming_the_problem(tmp_path: Path, kind: str) -> None:
    path = make_broken_file(tmp_path / f"{kind}.h5", kind)
    with pytest.raises(DatasetError) as info:
        DatasetReader(path)
    assert BROKEN_MESSAGES[kind] in info.value.message
    assert info.value.path == str(path) and str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        DatasetReader(tmp_path / "nope.h5")


def test_missing_group_is_named_when_read(tmp_path: Path) -> None:
    path = make_tiny_dataset(tmp_path / "m.h5", with_trajectories=False)
    with h5py.File(path, "r+") as f:
        del f["initial_conditions"]
    with open_dataset(path) as ds, pytest.raises(DatasetError, match="missing /initial_conditions/fields"):
        ds.initial_conditions()


def test_file_open_for_writing_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HDF5_USE_FILE_LOCKING", "TRUE")
    path = make_tiny_dataset(tmp_path / "locked.h5", n=2, size=4)
    with (
        held_open_for_writing(path),
        pytest.raises(DatasetError, match="is open for writing by another process"),
    ):
        DatasetReader(path)
    with open_dataset(path) as ds:  # released once the writer is gone
        assert ds.n_operators == 2
