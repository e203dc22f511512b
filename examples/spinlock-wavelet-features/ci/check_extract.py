"""End-to-end check of the installed wavelet plugin with ``spinlock extract`` (run by ``nox -s wavelet_plugin``).

Needs spinlock-core, spinlock-features and spinlock-wavelet-features installed (no spinlock-operators: the
dataset is written by ``spinlock.core.testing.make_tiny_dataset``)::

    python ci/check_extract.py WORKDIR

It writes ``WORKDIR/tiny.h5`` (random trajectories ``(6, 2, 4, 3, 16, 16)``), runs
``spinlock extract WORKDIR/tiny.h5 -f wavelet --json``, and checks that ``/features/wavelet/values`` is
``(6, 33)`` (11 columns per channel at the default 3 levels) with the family's column names, version and
provider, and that the stored values equal the family's own values and those of
``spinlock.features.api.extract("wavelet", trajectory=...)``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import h5py
import numpy as np
import torch

from spinlock.core.features.family import FeatureInputs
from spinlock.core.storage import DatasetReader
from spinlock.core.testing import make_tiny_dataset
from spinlock.features.api import extract
from spinlock_wavelet_features.config import WAVELET_VERSION
from spinlock_wavelet_features.family import WaveletFamily

N, CHANNELS, SIZE, REALIZATIONS, STEPS = 6, 3, 16, 2, 4
VALUES = "/features/wavelet/values"


def fail(message: str) -> NoReturn:
    print(f"check_extract: FAIL: {message}", file=sys.stderr)
    raise SystemExit(1)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        fail("usage: check_extract.py WORKDIR")
    dataset = make_tiny_dataset(
        Path(argv[0]) / "tiny.h5",
        n=N,
        channels=CHANNELS,
        size=SIZE,
        realizations=REALIZATIONS,
        steps=STEPS,
    )
    exe = shutil.which("spinlock")
    if exe is None:
        fail("the `spinlock` console script is not on PATH")
    env = {**os.environ, "SPINLOCK_STRICT_PLUGINS": "1"}
    proc = subprocess.run(
        [exe, "extract", str(dataset), "-f", "wavelet", "--json", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        fail(f"`spinlock extract -f wavelet` exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    family = WaveletFamily()
    columns = family.columns_for_channels(CHANNELS)
    summary = json.loads(proc.stdout)
    if summary["families"] != {"wavelet": [len(columns)]}:
        fail(f"extract reported {summary['families']}, expected wavelet with {len(columns)} columns")

    with h5py.File(dataset, "r") as file:
        if VALUES not in file:
            fail(f"{VALUES} is missing; /features holds {sorted(file.get('features', {}))}")
        stored = file[VALUES]
        values = np.asarray(stored[...])
        names = json.loads(stored.attrs["names"])
        version = stored.attrs["version"]
        provider = stored.attrs["provider"]
    with DatasetReader(dataset) as reader:
        done = np.asarray(reader.done(), dtype=bool)
        rows = np.flatnonzero(done)
        trajectories = np.asarray(reader.trajectories(rows), dtype=np.float32)
    if values.shape != (N, len(columns)):
        fail(f"{VALUES} has shape {values.shape}, expected {(N, len(columns))}")
    if tuple(names) != columns.names:
        fail(f"{VALUES} names {names[:4]}..., expected {list(columns.names[:4])}...")
    if version != WAVELET_VERSION or not str(provider).startswith("spinlock-wavelet-features "):
        fail(f"{VALUES} has version {version!r} and provider {provider!r}")
    if not done.any() or not np.isfinite(values[done]).all():
        fail(f"{VALUES} is not finite for every complete sample (done: {done.tolist()})")
    if not np.isnan(values[~done]).all():
        fail(f"{VALUES} has values for incomplete samples (done: {done.tolist()})")

    expected = family.compute(FeatureInputs(trajectory=torch.from_numpy(trajectories))).numpy()
    np.testing.assert_allclose(values[done], expected, rtol=1e-5, atol=1e-7)
    offline, offline_columns = extract("wavelet", trajectory=trajectories, batch_size=4)
    if offline_columns.names != columns.names:
        fail("spinlock.features.api.extract returned other columns than the family")
    np.testing.assert_allclose(values[done], offline, rtol=1e-5, atol=1e-7)
    print(f"check_extract: {VALUES} {values.shape} ok, equal to the family and to the offline API")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
