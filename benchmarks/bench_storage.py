"""Storage benchmark: writing float32 trajectories through DatasetWriter, against plain h5py and the disk.

For each compression (none, lzf) it writes the same ``(N, M, T', C, H, W)`` float32 trajectories, one batch
of samples at a time, three ways:

- ``DatasetWriter.write_batch`` (also writes the batch's ICs, statuses and done flags, and flushes twice);
- plain ``h5py``: the same per-sample chunking and filters, one slice assignment per batch, one flush;
- the raw sequential write roof: ``numpy.ndarray.tofile`` of the same bytes (no HDF5 at all).

MB/s counts trajectory bytes only (1 MB = 1e6 bytes), so the writer's extra work shows up in its ratio.
Timings include closing the file; nothing is fsynced, so all three measure the write into the page cache,
as a generation run experiences it. Run with ``python benchmarks/bench_storage.py [--dir DIR]``; every
figure and ratio comes from this one run.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from spinlock.core.storage import DatasetWriter, TrajectorySpec

N, BATCH = 32, 8
M, T, C, H, W = 3, 100, 3, 64, 64  # the reference production shape: 14.7 MB of trajectories per sample
REPEATS = 3


def smooth_fields(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Low-pass random fields: compressible like real rollouts, unlike white noise."""
    noise = rng.standard_normal((*shape, H, W)).astype(np.float32)
    spectrum = np.fft.rfft2(noise)
    ky = np.fft.fftfreq(H)[:, None]
    kx = np.fft.rfftfreq(W)[None, :]
    spectrum *= np.exp(-((ky**2 + kx**2) / 0.01))
    return np.fft.irfft2(spectrum, s=(H, W)).astype(np.float32)


def best_time(work: Callable[[Path], object], directory: Path, name: str) -> float:
    """Fastest wall time of ``REPEATS`` runs, each writing a fresh file."""
    times = []
    for repeat in range(REPEATS):
        path = directory / f"{name}-{repeat}"
        start = time.perf_counter()
        work(path)
        times.append(time.perf_counter() - start)
        path.unlink()
    return min(times)


def write_with_writer(path: Path, traj: np.ndarray, compression: str) -> None:
    ic = np.zeros((BATCH, C, H, W), dtype=np.float32)
    with DatasetWriter.create(
        path,
        n_operators=N,
        parameter_names=["a"],
        parameter_dtypes={"a": float},
        ic_shape=(C, H, W),
        config_yaml="bench: true\n",
        provenance={},
        seed=0,
        trajectories=TrajectorySpec(realizations=M, steps=T),
        compression=compression,  # type: ignore[arg-type]
    ) as writer:
        for start in range(0, N, BATCH):
            writer.write_batch(
                np.arange(start, start + BATCH),
                ic_fields=ic,
                ic_types=["bench"] * BATCH,
                ic_kinds=["bench"] * BATCH,
                status=["ok"] * BATCH,
                trajectories=traj[start : start + BATCH],
            )


def write_with_h5py(path: Path, traj: np.ndarray, compression: str) -> None:
    filters = {"compression": "lzf", "shuffle": True} if compression == "lzf" else {}
    with h5py.File(path, "w") as f:
        ds = f.create_dataset(
            "fields", shape=traj.shape, dtype=np.float32, chunks=(1, *traj.shape[1:]), **filters
        )
        for start in range(0, N, BATCH):
            ds[start : start + BATCH] = traj[start : start + BATCH]


def write_raw(path: Path, traj: np.ndarray) -> None:
    with path.open("wb") as f:
        for start in range(0, N, BATCH):
            traj[start : start + BATCH].tofile(f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: a temporary folder)")
    args = parser.parse_args()

    traj = smooth_fields(np.random.default_rng(0), (N, M, T, C))
    megabytes = traj.nbytes / 1e6
    print(f"trajectories: {N} samples x {traj.shape[1:]} float32 = {megabytes:.0f} MB, batches of {BATCH}")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        directory = Path(tmp)
        t_raw = best_time(lambda p: write_raw(p, traj), directory, "raw")
        print(f"raw tofile roof: {megabytes / t_raw:8.0f} MB/s")
        for compression in ("none", "lzf"):
            t_writer = best_time(
                functools.partial(write_with_writer, traj=traj, compression=compression), directory, "writer"
            )
            t_h5py = best_time(
                functools.partial(write_with_h5py, traj=traj, compression=compression), directory, "h5py"
            )
            path = directory / "size"
            write_with_h5py(path, traj, compression)
            stored = path.stat().st_size
            path.unlink()
            print(
                f"compression={compression:<4}  DatasetWriter {megabytes / t_writer:6.0f} MB/s   "
                f"plain h5py {megabytes / t_h5py:6.0f} MB/s   "
                f"writer/h5py {t_h5py / t_writer:5.2f}   writer/raw roof {t_raw / t_writer:5.2f}   "
                f"h5py/raw roof {t_raw / t_h5py:5.2f}   size ratio {traj.nbytes / stored:4.2f}"
            )


if __name__ == "__main__":
    main()
