"""Offline extraction: feature families computed from a stored dataset, written back into it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spinlock.core.features import FeatureInputs
from spinlock.core.plugins import PluginManager
from spinlock.core.registry import ComponentKind
from spinlock.core.storage import DatasetReader, DatasetWriter


def _inputs(reader: DatasetReader, rows: np.ndarray, needs: set[str]) -> FeatureInputs:
    parameters = reader.parameters(rows) if "parameters" in needs else {}
    trajectory = None
    if "trajectory" in needs:
        stored = reader.trajectories(rows)
        trajectory = None if stored is None else torch.from_numpy(np.asarray(stored, dtype=np.float32))
    return FeatureInputs(
        initial_condition=torch.from_numpy(reader.initial_conditions(rows)),
        trajectory=trajectory,
        parameters=parameters,
        parameter_space=reader.parameter_space or (),
        status=[reader.status()[i] for i in rows],
        time_stride=reader.stride or 1,
    )


def extract_dataset(
    path: str | Path,
    families: Sequence[str],
    manager: PluginManager,
    *,
    batch_size: int = 16,
    quiet: bool = True,
) -> dict[str, Any]:
    """Compute ``families`` for every complete sample of ``path`` and store them (replacing old values).

    :raises ValueError: a family needs trajectories the dataset did not store, or no sample is complete.
    """
    from rich.progress import Progress

    specs = [manager.get(ComponentKind.FEATURE_FAMILY, name) for name in families]
    built = [(spec, spec.build()) for spec in specs]
    with DatasetWriter.open_for_extraction(path) as writer:
        reader = DatasetReader(path, file=writer.file)
        done = np.flatnonzero(reader.done())
        if done.size == 0:
            raise ValueError(f"{path}: no sample is complete; finish it with `spinlock generate --resume`")
        for spec, family in built:
            if "trajectory" in family.inputs and not reader.has_trajectories:
                raise ValueError(
                    f"family {spec.name!r} needs trajectories, which {path} did not store "
                    "(generate with storage.store_trajectories: true, or extract it inline)"
                )
        dims: dict[str, list[int]] = {}
        with Progress(disable=quiet, transient=True) as progress:
            for spec, family in built:
                needs = set(family.inputs)
                probe = _inputs(reader, done[:1], needs)
                columns = family.columns(probe)
                time = (
                    probe.trajectory.shape[2]
                    if columns.per_timestep and probe.trajectory is not None
                    else None
                )
                writer.replace_features(
                    spec.name,
                    list(columns.names),
                    family.version,
                    f"{spec.distribution} {spec.version}",
                    per_timestep_T=time,
                    categories=list(columns.categories),
                )
                task = progress.add_task(f"extracting {spec.name}", total=done.size)
                for start in range(0, done.size, batch_size):
                    rows = done[start : start + batch_size]
                    with torch.inference_mode():
                        values = family.compute(_inputs(reader, rows, needs)).float().numpy()
                    writer.write_features(spec.name, rows, values)
                    progress.advance(task, rows.size)
                dims[spec.name] = [len(columns)] if time is None else [time, len(columns)]
        return {"n_operators": int(done.size), "families": dims}
