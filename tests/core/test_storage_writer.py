"""DatasetWriter: round trip, chunking, compression, crash safety and resume."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from spinlock.core.storage import DatasetError, DatasetWriter, TrajectorySpec, open_dataset, validate_dataset

N, C, S, M, T = 8, 2, 8, 2, 5
NAMES = ["modes", "dt", "residual", "activation"]
DTYPES = {"modes": np.int64, "dt": "float64", "residual": bool, "activation": "str"}
CONFIG = "operator:\n  kind: cnn\n  params: {channels: 8}\n"


def _create(path: Path, **overrides) -> DatasetWriter:
    kwargs = {
        "n_operators": N,
        "parameter_names": NAMES,
        "parameter_dtypes": DTYPES,
        "ic_shape": (C, S, S),
        "config_yaml": CONFIG,
        "provenance": {"spinlock-core": "0.1.0", "spinlock-operators": "0.1.0"},
        "seed": 42,
        "trajectories": TrajectorySpec(realizations=M, steps=T, stride=2),
    }
    kwargs.update(overrides)
    return DatasetWriter.create(path, **kwargs)


def _content(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    unit = rng.random((N, 4))
    return {
        "unit": unit,
        "typed": {
            "modes": np.arange(N, dtype=np.int64) + 1,
            "dt": unit[:, 1] * 0.1,
            "residual": unit[:, 2] > 0.5,
            "activation": ["gelu" if u < 0.5 else "relu" for u in unit[:, 3]],
        },
        "ic": rng.standard_normal((N, C, S, S)).astype(np.float32),
        "types": [f"type{i % 3}" for i in range(N)],
        "kinds": [f"kind{i % 2}" for i in range(N)],
        "status": ["ok"] * (N - 2) + ["diverged", "failed"],
        "step": np.array([-1] * (N - 2) + [3, -1], dtype=np.int32),
        "traj": rng.standard_normal((N, M, 3, C, S, S)).astype(np.float32),  # T' = ceil(5 / 2) = 3
        "summary": rng.standard_normal((N, 4)).astype(np.float32),
        "temporal": rng.standard_normal((N, 3, 2)).astype(np.float32),
    }


def _write(writer: DatasetWriter, data: dict, indices) -> None:
    idx = np.asarray(indices)
    writer.write_batch(
        idx,
        ic_fields=data["ic"][idx],
        ic_types=[data["types"][i] for i in idx],
        ic_kinds=[data["kinds"][i] for i in idx],
        status=[data["status"][i] for i in idx],
        diverged_step=data["step"][idx],
        trajectories=data["traj"][idx],
        features={"summary": data["summary"][idx], "temporal": data["temporal"][idx]},
    )


def _declare(writer: DatasetWriter) -> None:
    writer.declare_features("summary", ["a", "b", "c", "d"], "1.2", "spinlock-features", categories="wwxx")
    writer.declare_features("temporal", ["e", "f"], "0.3", "spinlock-features", per_timestep_T=3)


def _full_dataset(path: Path, data: dict) -> None:
    with _create(path) as writer:
        writer.write_parameters_all(data["unit"], data["typed"], {"discrepancy": 0.01}, {"dims": 4})
        _declare(writer)
        _write(writer, data, [5, 2, 3])  # out of order, non-contiguous
        _write(writer, data, [0, 1, 4, 6, 7])


def test_round_trip_of_every_dataset(tmp_path: Path) -> None:
    data = _content()
    path = tmp_path / "d.h5"
    _full_dataset(path, data)
    with open_dataset(path) as ds:
        assert ds.format_version == 1
        assert (ds.n_operators, ds.n_spatial_dims, ds.seed) == (N, 2, 42)
        assert ds.config_yaml == CONFIG
        assert ds.provenance == {"spinlock-core": "0.1.0", "spinlock-operators": "0.1.0"}
        assert ds.parameter_names == NAMES
        np.testing.assert_array_equal(ds.unit_parameters(), data["unit"])
        params = ds.parameters()
        for name in NAMES:
            np.testing.assert_array_equal(params[name], np.asarray(data["typed"][name]))
        assert params["modes"].dtype == np.int64 and params["residual"].dtype == bool
        assert (
            params["dt"].dtype == np.float64 and params["activation"].tolist() == data["typed"]["activation"]
        )
        assert ds.parameter_quality == {"discrepancy": 0.01} and ds.parameter_space == {"dims": 4}
        np.testing.assert_array_equal(ds.initial_conditions(), data["ic"])
        assert ds.ic_types() == data["types"] and ds.ic_kinds() == data["kinds"]
        assert ds.has_trajectories and ds.stride == 2 and ds.steps == T
        np.testing.assert_array_equal(ds.trajectories(), data["traj"])
        assert ds.status() == data["status"]
        np.testing.assert_array_equal(ds.diverged_step(), data["step"])
        assert ds.feature_families() == ["summary", "temporal"]
        values, names, version = ds.features("summary")
        np.testing.assert_array_equal(values, data["summary"])
        assert (names, version) == (["a", "b", "c", "d"], "1.2")
        info = ds.feature_info("summary")
        assert info.provider == "spinlock-features" and info.categories == ("w", "w", "x", "x")
        temporal = ds.features("temporal")
        np.testing.assert_array_equal(temporal.values, data["temporal"])
        assert ds.feature_info("temporal").per_timestep == 3
        assert ds.done().all()
    assert validate_dataset(path) == []


def test_big_arrays_are_chunked_per_sample_and_compressed_only_when_asked(tmp_path: Path) -> None:
    with _create(tmp_path / "plain.h5") as writer:
        _declare(writer)
    with h5py.File(tmp_path / "plain.h5", "r") as f:
        assert f["initial_conditions/fields"].chunks == (1, C, S, S)
        assert f["trajectories/fields"].chunks == (1, M, 3, C, S, S)
        assert f["initial_conditions/fields"].compression is None
        assert f["trajectories/fields"].compression is None
        assert f["trajectories/fields"].attrs["stride"] == 2
    with _create(tmp_path / "lzf.h5", compression="lzf") as writer:
        _declare(writer)
    with h5py.File(tmp_path / "lzf.h5", "r") as f:
        for name in ("initial_conditions/fields", "trajectories/fields"):
            assert f[name].compression == "lzf" and f[name].shuffle
        assert f["features/summary/values"].compression is None
        assert f["parameters/unit"].compression is None


def test_float16_trajectories_are_opt_in(tmp_path: Path) -> None:
    spec = TrajectorySpec(realizations=1, steps=4, stride=3, dtype="float16")
    assert spec.stored_steps == 2
    with _create(tmp_path / "h.h5", trajectories=spec) as writer:
        traj = np.ones((1, 1, 2, C, S, S), dtype=np.float32)
        writer.write_batch(
            [0],
            ic_fields=np.zeros((1, C, S, S)),
            ic_types=["x"],
            ic_kinds=["x"],
            status=["ok"],
            trajectories=traj,
        )
    with open_dataset(tmp_path / "h.h5") as ds:
        assert ds.trajectory_dtype == "float16"
        assert ds.trajectories([0]).dtype == np.float16


def test_unwritten_samples_read_as_nan_and_pending(tmp_path: Path) -> None:
    data = _content()
    with _create(tmp_path / "p.h5") as writer:
        _declare(writer)
        _write(writer, data, [1])
        np.testing.assert_array_equal(writer.pending_indices(), [0, 2, 3, 4, 5, 6, 7])
    with open_dataset(tmp_path / "p.h5") as ds:
        assert np.isnan(ds.initial_conditions([0])).all()
        assert np.isnan(ds.trajectories([0])).all()
        assert np.isnan(ds.features("summary").values[0]).all()
        assert ds.status()[0] == "pending" and ds.status()[1] == "ok"
        assert ds.diverged_step()[0] == -1
        assert ds.done().tolist() == [False, True] + [False] * 6


_CRASH_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    sys.path.insert(0, {test_dir!r})
    from spinlock.core.storage import DatasetWriter
    import test_storage_writer as t

    data = t._content()
    writer = t._create({path!r})
    writer.write_parameters_all(data["unit"], data["typed"], {{}}, {{}})
    t._declare(writer)
    t._write(writer, data, [0, 1])
    t._write(writer, data, [2, 3])
    # Die exactly between the data of the next batch reaching the file and its done flag.
    DatasetWriter._mark_done = lambda self, idx: os.kill(os.getpid(), signal.SIGKILL)
    t._write(writer, data, [4, 5])
    """
)


def test_crash_between_data_and_done_flag_loses_nothing_and_resumes(tmp_path: Path) -> None:
    path = tmp_path / "crash.h5"
    script = _CRASH_SCRIPT.format(test_dir=str(Path(__file__).parent), path=str(path))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr.decode()

    with h5py.File(path, "r") as f:
        before = {
            name: f[name][:4].tobytes() for name in ("initial_conditions/fields", "trajectories/fields")
        }
        assert f["progress/done"][...].tolist() == [True] * 4 + [False] * 4
    assert any("4 of 8 samples are not complete" in p.message for p in validate_dataset(path))

    data = _content()
    with DatasetWriter.open_for_resume(path, config_yaml=CONFIG) as writer:
        _declare(writer)  # same declaration again: a no-op on resume
        pending = writer.pending_indices()
        np.testing.assert_array_equal(pending, [4, 5, 6, 7])
        _write(writer, data, pending)
    with h5py.File(path, "r") as f:
        after = {name: f[name][:4].tobytes() for name in before}
    assert after == before  # earlier samples bit-identical
    assert validate_dataset(path) == []
    with open_dataset(path) as ds:
        np.testing.assert_array_equal(ds.trajectories(), data["traj"])


_LOOP_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {test_dir!r})
    import test_storage_writer as t

    data = t._content()
    writer = t._create({path!r})
    t._declare(writer)
    t._write(writer, data, [0, 1])
    print("ready", flush=True)
    while True:
        t._write(writer, data, [2, 3, 4, 5, 6, 7])
    """
)


def test_writer_killed_at_any_moment_leaves_a_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "loop.h5"
    script = _LOOP_SCRIPT.format(test_dir=str(Path(__file__).parent), path=str(path))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    proc.kill()
    proc.wait()
    data = _content()
    with open_dataset(path) as ds:
        done = ds.done()
        assert done[:2].all()
        np.testing.assert_array_equal(ds.initial_conditions()[done], data["ic"][done])


def test_resume_refuses_a_different_config(tmp_path: Path) -> None:
    path = tmp_path / "d.h5"
    _create(path).close()
    with pytest.raises(DatasetError, match="different config") as info:
        DatasetWriter.open_for_resume(path, config_yaml=CONFIG.replace("8", "16"))
    assert "+  params: {channels: 16}" in str(info.value)


@pytest.mark.parametrize(
    ("kind", "message"), [("foreign", "not a Spinlock dataset"), ("newer", "newer than")]
)
def test_resume_refuses_foreign_and_newer_files(tmp_path: Path, kind: str, message: str) -> None:
    path = tmp_path / "x.h5"
    if kind == "foreign":
        h5py.File(path, "w").close()
    else:
        _create(path).close()
        with h5py.File(path, "r+") as f:
            f.attrs["spinlock_format_version"] = 7
    with pytest.raises(DatasetError, match=message):
        DatasetWriter.open_for_resume(path, config_yaml=CONFIG)


def test_create_refuses_existing_file_and_a_second_writer(tmp_path: Path) -> None:
    path = tmp_path / "d.h5"
    with _create(path):
        with pytest.raises(DatasetError, match="already open by a DatasetWriter"):
            DatasetWriter.open_for_resume(path, config_yaml=CONFIG)
        with pytest.raises(DatasetError, match="already"):
            _create(path, overwrite=True)
    with pytest.raises(DatasetError, match="already exists"):
        _create(path)
    _create(path, overwrite=True, n_operators=3).close()
    with open_dataset(path) as ds:
        assert ds.n_operators == 3


def test_bad_batches_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    data = _content()
    with _create(tmp_path / "d.h5") as writer:
        _declare(writer)
        ok = {
            "ic_fields": data["ic"][:2],
            "ic_types": ["a", "b"],
            "ic_kinds": ["a", "b"],
            "status": ["ok", "ok"],
            "trajectories": data["traj"][:2],
            "features": {"summary": data["summary"][:2], "temporal": data["temporal"][:2]},
        }
        bad_cases = [
            ({"ic_fields": data["ic"][:1]}, "ic_fields: expected shape"),
            ({"trajectories": data["traj"][:2, :, :2]}, "trajectories: expected shape"),
            ({"trajectories": None}, "stores trajectories"),
            ({"features": {"summary": data["summary"][:2]}}, "missing \\['temporal'\\]"),
            ({"status": ["ok", "weird"]}, "status must be one of"),
            ({"status": ["ok", "diverged"]}, "diverged_step must be >= 0"),
        ]
        for change, message in bad_cases:
            with pytest.raises(ValueError, match=message):
                writer.write_batch([0, 1], **{**ok, **change})
        with pytest.raises(ValueError, match="unique"):
            writer.write_batch([0, 0], **ok)
        with pytest.raises(ValueError, match="in \\[0, 8\\)"):
            writer.write_batch([7, 8], **ok)
        assert not writer.done().any()
        writer.write_batch([0, 1], **ok)
        with pytest.raises(DatasetError, match="already complete without it"):
            writer.declare_features("late", ["x"], "1", "me")
        with pytest.raises(DatasetError, match="declared differently"):
            writer.declare_features("summary", ["a", "b", "c", "d"], "9.9", "spinlock-features")


def test_parameter_checks(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not 'unit'"):
        _create(tmp_path / "a.h5", parameter_names=["unit"], parameter_dtypes={"unit": float})
    with pytest.raises(ValueError, match="exactly the parameters"):
        _create(tmp_path / "b.h5", parameter_dtypes={"modes": int})
    data = _content()
    with _create(tmp_path / "c.h5") as writer:
        with pytest.raises(ValueError, match=r"\[0, 1\)"):
            writer.write_parameters_all(data["unit"] + 1, data["typed"], {}, {})
        with pytest.raises(ValueError, match="non-integral"):
            writer.write_parameters_all(data["unit"], {**data["typed"], "modes": data["unit"][:, 0]}, {}, {})


def test_parameters_may_come_with_each_batch(tmp_path: Path) -> None:
    data = _content()
    path = tmp_path / "d.h5"
    with _create(path, trajectories=None) as writer:
        writer.write_batch(
            [3, 1],
            ic_fields=data["ic"][[3, 1]],
            ic_types=["a", "b"],
            ic_kinds=["a", "b"],
            status=["ok", "ok"],
            unit_params=data["unit"][[3, 1]],
            typed_params={
                name: np.asarray(values, dtype=object)[[3, 1]].tolist()
                for name, values in data["typed"].items()
            },
        )
    with open_dataset(path) as ds:
        np.testing.assert_array_equal(ds.unit_parameters([1, 3]), data["unit"][[1, 3]])
        assert ds.parameters([3])["activation"].tolist() == [data["typed"]["activation"][3]]
        assert np.isnan(ds.unit_parameters([0])).all()
        assert not ds.has_trajectories and ds.trajectories([0]) is None and ds.stride is None
