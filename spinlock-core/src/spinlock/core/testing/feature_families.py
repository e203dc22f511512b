"""Contract check for feature families (registered with :func:`contract_check`).

``check_feature_family(spec)`` builds the family from its config's defaults and checks its name, version and
declared inputs; then, on seeded synthetic batches of 4 samples providing every input (C = 1 and C = 3,
16×16, M = 2 realizations, T = 5 time points, and θ with an integer, a log-continuous, a linear continuous,
two choice and a boolean parameter), it checks the columns (non-empty unique names, one category each),
the output (a torch tensor of shape ``(B, D)`` — ``(B, T, D)`` when per-timestep — float32, finite), that the
columns do not depend on the values, and batch independence: sample 2 computed alone, or moved to another
position, matches it in the batch of 4 within 1e-5 relative (absolute below magnitude 1).

Importing this module does not import torch; the check imports it when it runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spinlock.core.features.family import FEATURE_INPUTS, FeatureInputs
from spinlock.core.registry import ComponentKind, ComponentSpec
from spinlock.core.testing.contracts import ContractViolation, contract_check

BATCH = 4
CHANNELS: tuple[int, ...] = (1, 3)
GRID = (16, 16)
REALIZATIONS = 2
TIMES = 5
RTOL = 1e-5

#: the synthetic parameter space (``ParameterSpace.describe()`` form)
PARAMETER_SPACE: tuple[dict[str, Any], ...] = (
    {"name": "num_layers", "type": "integer", "low": 2, "high": 4},
    {"name": "kernel_size", "type": "choice", "choices": [3, 5, 7], "weights": None},
    {"name": "activation", "type": "choice", "choices": ["gelu", "tanh", "relu"], "weights": None},
    {"name": "dropout_rate", "type": "continuous", "low": 0.0, "high": 0.3, "log": False},
    {"name": "noise_scale", "type": "continuous", "low": 1e-4, "high": 0.05, "log": True},
    {"name": "use_bias", "type": "boolean", "p_true": 0.5},
)


def synthetic_inputs(channels: int, seed: int = 0) -> FeatureInputs:
    """A seeded batch of :data:`BATCH` samples with every input a family may ask for."""
    import torch

    rng = np.random.default_rng(seed)
    h, w = GRID
    _, x = np.meshgrid(
        np.linspace(0, 1, h, endpoint=False), np.linspace(0, 1, w, endpoint=False), indexing="ij"
    )
    ic = rng.standard_normal((BATCH, channels, h, w))
    ic += 2.0 * np.sin(2 * np.pi * rng.integers(1, 4, (BATCH, channels, 1, 1)) * x)  # structure
    steps = np.linspace(0.0, 1.0, TIMES)[None, None, :, None, None, None]
    noise = 0.3 * rng.standard_normal((BATCH, REALIZATIONS, TIMES, channels, h, w))
    trajectory = ic[:, None, None] * np.exp(-steps) + steps * noise
    parameters = {
        "num_layers": rng.integers(2, 5, BATCH),
        "kernel_size": rng.choice([3, 5, 7], BATCH),
        "activation": rng.choice(["gelu", "tanh", "relu"], BATCH),
        "dropout_rate": rng.uniform(0.0, 0.3, BATCH),
        "noise_scale": np.exp(rng.uniform(np.log(1e-4), np.log(0.05), BATCH)),
        "use_bias": rng.random(BATCH) < 0.5,
    }
    return FeatureInputs(
        initial_condition=torch.from_numpy(ic.astype(np.float32)),
        trajectory=torch.from_numpy(trajectory.astype(np.float32)),
        parameters=parameters,
        parameter_space=PARAMETER_SPACE,
        status=["ok"] * BATCH,
        time_stride=1,
    )


def select(inputs: FeatureInputs, index: list[int]) -> FeatureInputs:
    """The samples ``index`` of a batch, in that order."""
    return FeatureInputs(
        initial_condition=None if inputs.initial_condition is None else inputs.initial_condition[index],
        trajectory=None if inputs.trajectory is None else inputs.trajectory[index],
        parameters={k: np.asarray(v)[index] for k, v in inputs.parameters.items()},
        parameter_space=inputs.parameter_space,
        status=None if inputs.status is None else [inputs.status[i] for i in index],
        time_stride=inputs.time_stride,
    )


def check_feature_family(spec: ComponentSpec) -> None:
    """Run the feature-family contract on ``spec``; raises :class:`ContractViolation`."""
    import torch

    try:
        family = spec.build()
    except Exception as exc:
        raise ContractViolation(spec, f"cannot be built from its default config: {exc}") from exc
    for attr in ("name", "version"):
        value = getattr(family, attr, None)
        if not isinstance(value, str) or not value.strip():
            raise ContractViolation(spec, f"{attr} must be a non-empty string, got {value!r}")
    declared = getattr(family, "inputs", None)
    if not isinstance(declared, (set, frozenset)) or not declared or not set(declared) <= FEATURE_INPUTS:
        raise ContractViolation(
            spec, f"inputs must be a non-empty subset of {sorted(FEATURE_INPUTS)}, got {declared!r}"
        )

    for channels in CHANNELS:
        where = f"C={channels}"
        inputs = synthetic_inputs(channels)

        def run(batch: FeatureInputs, what: str, where: str = where) -> Any:
            try:
                return family.compute(batch)
            except Exception as exc:
                raise ContractViolation(spec, f"compute failed on {what} ({where}): {exc!r}") from exc

        try:
            columns = family.columns(inputs)
        except Exception as exc:
            raise ContractViolation(spec, f"columns() failed ({where}): {exc!r}") from exc
        names, categories = tuple(columns.names), tuple(columns.categories)
        if not names:
            raise ContractViolation(spec, f"no columns ({where})")
        if any(not isinstance(n, str) or not n.strip() for n in names):
            raise ContractViolation(spec, f"empty or non-string column name ({where})")
        if len(set(names)) != len(names):
            raise ContractViolation(spec, f"duplicate column names ({where})")
        if len(categories) != len(names) or any(not isinstance(c, str) or not c.strip() for c in categories):
            raise ContractViolation(spec, f"every column needs a non-empty category ({where})")
        other = family.columns(synthetic_inputs(channels, seed=1))
        if tuple(other.names) != names or tuple(other.categories) != categories:
            raise ContractViolation(spec, f"columns depend on the values, not only the shapes ({where})")

        out = run(inputs, "the batch of 4")
        if not isinstance(out, torch.Tensor):
            raise ContractViolation(
                spec, f"compute returned {type(out).__name__}, not a torch.Tensor ({where})"
            )
        expected: tuple[int, ...] = (
            (BATCH, TIMES, len(names)) if columns.per_timestep else (BATCH, len(names))
        )
        if tuple(out.shape) != expected:
            raise ContractViolation(spec, f"output shape {tuple(out.shape)}, expected {expected} ({where})")
        if out.dtype != torch.float32:
            raise ContractViolation(spec, f"output dtype {out.dtype}, expected torch.float32 ({where})")
        if not bool(torch.isfinite(out).all()):
            bad = torch.nonzero(~torch.isfinite(out))[0].tolist()
            raise ContractViolation(spec, f"non-finite value in column {names[bad[-1]]!r} ({where})")

        reference = out[2].detach().double()
        scale = reference.abs().clamp(min=1.0)
        for index, position, what in (([2], 0, "sample 2 alone"), ([3, 2], 1, "samples [3, 2]")):
            got = run(select(inputs, index), what)
            if tuple(got.shape[1:]) != tuple(out.shape[1:]):
                raise ContractViolation(spec, f"{what}: shape {tuple(got.shape)} ({where})")
            diff = (got[position].detach().double() - reference).abs() / scale
            if bool((diff > RTOL).any()):
                worst = int(diff.reshape(-1, len(names)).amax(0).argmax())
                raise ContractViolation(
                    spec,
                    f"not batch independent: column {names[worst]!r} of sample 2 differs when computed as "
                    f"{what} ({where})",
                )


contract_check(ComponentKind.FEATURE_FAMILY)(check_feature_family)

__all__ = ["PARAMETER_SPACE", "check_feature_family", "select", "synthetic_inputs"]
