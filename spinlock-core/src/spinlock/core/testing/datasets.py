"""Tiny, valid, deterministic dataset files for tests (yours and plugin authors')."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from os import PathLike
from pathlib import Path
from typing import Literal

import numpy as np

BrokenKind = Literal["text", "empty", "truncated", "foreign", "newer_version"]
BROKEN_KINDS: tuple[BrokenKind, ...] = ("text", "empty", "truncated", "foreign", "newer_version")

TINY_CONFIG_YAML = "# tiny test dataset written by spinlock.core.testing.make_tiny_dataset\nseed: {seed}\n"
TINY_PARAMETERS: dict[str, str] = {"modes": "int64", "dt": "float64", "residual": "bool", "activation": "str"}
TINY_IC_TYPES = ("gaussian_random_field", "sinusoidal", "vortex")
TINY_FEATURE_NAMES = ("mean", "std", "energy")


def make_tiny_dataset(
    path: str | PathLike[str],
    *,
    n: int = 8,
    channels: int = 3,
    size: int = 16,
    realizations: int = 2,
    steps: int = 4,
    stride: int = 1,
    with_trajectories: bool = True,
    seed: int = 0,
) -> Path:
    """Write a small complete dataset with random but deterministic content (same arguments, same bytes
    of data) and return its path.

    It has four typed parameters (int, float, bool, str), ``(n, channels, size, size)`` initial conditions of
    three IC types, optional ``(n, realizations, ceil(steps / stride), channels, size, size)`` trajectories,
    statuses (the last sample diverged when ``n >= 2``), and two feature families: ``summary`` ``(n, 3)``
    and ``temporal`` ``(n, ceil(steps / stride), 3)``.
    """
    from spinlock.core import __version__
    from spinlock.core.storage import DatasetWriter, TrajectorySpec

    path = Path(path)
    rng = np.random.default_rng(seed)
    spec = (
        TrajectorySpec(realizations=realizations, steps=steps, stride=stride) if with_trajectories else None
    )
    stored = -(-steps // stride)
    names = list(TINY_PARAMETERS)
    with DatasetWriter.create(
        path,
        n_operators=n,
        parameter_names=names,
        parameter_dtypes=TINY_PARAMETERS,
        ic_shape=(channels, size, size),
        config_yaml=TINY_CONFIG_YAML.format(seed=seed),
        provenance={"spinlock-core": __version__},
        seed=seed,
        trajectories=spec,
        overwrite=True,
    ) as writer:
        unit = rng.random((n, len(names)))
        typed = {
            "modes": (1 + np.floor(unit[:, 0] * 8)).astype(np.int64),
            "dt": 10.0 ** (-3 + 2 * unit[:, 1]),
            "residual": unit[:, 2] >= 0.5,
            "activation": [("gelu", "relu", "tanh")[int(u * 3)] for u in unit[:, 3]],
        }
        writer.write_parameters_all(unit, typed, quality={"discrepancy": 0.0}, space={"parameters": names})
        writer.declare_features("summary", TINY_FEATURE_NAMES, version="1.0", provider="spinlock-core")
        writer.declare_features(
            "temporal", TINY_FEATURE_NAMES, version="1.0", provider="spinlock-core", per_timestep_T=stored
        )
        ic = rng.standard_normal((n, channels, size, size)).astype(np.float32)
        types = [TINY_IC_TYPES[i % len(TINY_IC_TYPES)] for i in range(n)]
        status = ["ok"] * n
        diverged = np.full(n, -1, dtype=np.int32)
        if n >= 2:
            status[-1], diverged[-1] = "diverged", steps - 1
        traj = None
        if spec is not None:
            traj = rng.standard_normal((n, realizations, stored, channels, size, size)).astype(np.float32)
        writer.write_batch(
            np.arange(n),
            ic_fields=ic,
            ic_types=types,
            ic_kinds=types,
            status=status,
            diverged_step=diverged,
            trajectories=traj,
            features={
                "summary": rng.standard_normal((n, len(TINY_FEATURE_NAMES))).astype(np.float32),
                "temporal": rng.standard_normal((n, stored, len(TINY_FEATURE_NAMES))).astype(np.float32),
            },
        )
    return path


def make_broken_file(path: str | PathLike[str], kind: BrokenKind) -> Path:
    """Write a file that no command may accept as a dataset, for testing error handling.

    ``text``: a text file; ``empty``: 0 bytes; ``truncated``: a valid tiny dataset cut to half its bytes;
    ``foreign``: an HDF5 file without ``spinlock_format_version``; ``newer_version``: a tiny dataset
    claiming format version 7.
    """
    import h5py

    path = Path(path)
    if kind == "text":
        path.write_text("this is not a dataset\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        whole = make_tiny_dataset(path.with_name(path.name + ".whole"), n=4, size=8)
        data = whole.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        whole.unlink()
    elif kind == "foreign":
        with h5py.File(path, "w") as file:
            file.create_dataset("data", data=np.arange(10.0))
    elif kind == "newer_version":
        make_tiny_dataset(path, n=2, size=8, with_trajectories=False)
        with h5py.File(path, "r+") as file:
            file.attrs["spinlock_format_version"] = 7
    else:
        raise ValueError(f"unknown broken-file kind {kind!r}; one of {BROKEN_KINDS}")
    return path


@contextmanager
def held_open_for_writing(path: str | PathLike[str]) -> Iterator[subprocess.Popen[bytes]]:
    """Keep ``path`` open in HDF5 append mode, with file locking on, in another process for the block."""
    env = {**os.environ, "HDF5_USE_FILE_LOCKING": "TRUE"}
    script = (
        "import sys, time, h5py\nf = h5py.File(sys.argv[1], 'a')\nprint('open', flush=True)\ntime.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != b"open":
            raise RuntimeError(f"helper process could not open {path} for writing")
        yield proc
    finally:
        proc.kill()
        proc.wait()
