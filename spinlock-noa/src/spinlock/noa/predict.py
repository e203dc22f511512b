"""Rolling a trained agent out for a dataset's operators and scoring it against the true operators.

For each requested operator the agent predicts the rollout from that operator's (θ, u0); the report gives

- the trajectory error against the true realization-mean trajectory (raw MSE and the per-sample scaled
  MSE the agent was trained on), next to the error of predicting ``u0`` forever;
- the tokens of the prediction, of the true operator's trajectory (all M realizations, exactly what
  ``spinlock tokenize`` gives from the dataset's features) and of the realization-mean target (the best a
  deterministic agent can aim at), with the share of tokens that agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch

from spinlock.core.plugins import PluginManager
from spinlock.core.storage import open_dataset
from spinlock.noa.alignment import TokenizerAlignment, build_feature_pipeline
from spinlock.noa.backbone import NOABackbone
from spinlock.noa.checkpoint import (
    TOKENIZER_FILE,
    AgentCheckpoint,
    CheckpointError,
    load_checkpoint,
    model_path,
)
from spinlock.noa.data import (
    as_ensemble,
    check_compatible,
    dataset_family_builder,
    dataset_info,
    fixed_inputs,
    probe_inputs,
    read_trajectories,
    trajectory_scale,
    usable_rows,
)
from spinlock.noa.losses import trajectory_error
from spinlock.vqvae.tokenizer import Tokenizer


@attrs.frozen(eq=False)
class Agent:
    """A trained agent: its network (eval mode), its checkpoint and the frozen tokenizer it was trained with."""

    backbone: NOABackbone
    checkpoint: AgentCheckpoint
    tokenizer: Tokenizer


def load_agent(directory: str | Path, device: str = "cpu") -> Agent:
    """The agent saved by ``spinlock train-noa`` in ``directory`` (its ``model.pt`` and ``tokenizer.pt``)."""
    path = model_path(directory)
    checkpoint = load_checkpoint(path)
    agent = checkpoint.agent
    try:
        backbone = NOABackbone(
            int(agent["channels"]),
            len(agent["parameter_names"]),
            (int(agent["grid"][0]), int(agent["grid"][1])),
            checkpoint.config.backbone,
        )
        backbone.load_state_dict(checkpoint.weights)
    except (KeyError, RuntimeError, ValueError) as exc:
        raise CheckpointError(path, f"the weights do not fit the stored agent ({exc})") from None
    tokenizer_file = path.parent / TOKENIZER_FILE
    if not tokenizer_file.is_file():
        raise CheckpointError(path, f"{tokenizer_file} is missing (it is written by `spinlock train-noa`)")
    tokenizer = Tokenizer.load(tokenizer_file, device)
    backbone.to(device).eval()
    return Agent(backbone, checkpoint, tokenizer)


def _agreement(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    equal = a == b
    return {"all": float(equal.mean()), "coarse": float(equal[:, 0].mean())}


@torch.no_grad()
def predict(
    agent: Agent,
    dataset: str | Path,
    indices: Sequence[int],
    manager: PluginManager,
    *,
    device: str = "cpu",
) -> dict[str, Any]:
    """Roll the agent out for operators ``indices`` of ``dataset`` and compare with the true operators.

    :returns: ``{"dataset", "operators": [per-operator report], "mean": {...}}`` (JSON-ready).
    :raises ValueError: an index out of range or of an operator without status ``ok``, or a dataset that
        does not fit the agent (θ columns, channels, grid, feature columns).
    """
    if not indices:
        raise ValueError("no operator indices given")
    info, run_config = dataset_info(dataset, manager)
    check_compatible(info, agent.checkpoint.agent)
    wanted = np.asarray([int(i) for i in indices], dtype=np.int64)
    with open_dataset(dataset) as reader:
        n = reader.n_operators
        out_of_range = [int(i) for i in wanted if not 0 <= i < n]
        if out_of_range:
            raise ValueError(f"operator indices {out_of_range} are outside [0, {n}) of {dataset}")
        usable = set(usable_rows(reader).tolist())
        status = reader.status()
        unusable = [f"{int(i)} ({status[int(i)]})" for i in wanted if int(i) not in usable]
        if unusable:
            raise ValueError(f"operators {', '.join(unusable)} are not complete with rollout status ok")
        rows = np.unique(wanted)
        theta = torch.from_numpy(np.asarray(reader.unit_parameters(rows), dtype=np.float32)).to(device)
        u0 = torch.from_numpy(np.asarray(reader.initial_conditions(rows), dtype=np.float32)).to(device)
        pipeline = build_feature_pipeline(
            agent.tokenizer,
            dataset_family_builder(run_config, manager),
            realizations=info.realizations,
            stride=info.stride,
        )
        pipeline.check_columns(probe_inputs(info, reader, int(rows[0])))
        fixed = pipeline.fixed_features(fixed_inputs(reader, rows, info.stride)).to(device)
    truth = torch.from_numpy(read_trajectories(dataset, rows, manager)).to(device)
    alignment = TokenizerAlignment(agent.tokenizer).to(device)
    prediction = agent.backbone.rollout(u0, theta, info.steps, stride=info.stride)
    target = truth.mean(dim=1)
    scale = trajectory_scale(target.cpu()).to(device)

    def codes(trajectory: torch.Tensor) -> np.ndarray:
        static, temporal = pipeline.features(trajectory, fixed, u0)
        return alignment(static, temporal).codes.cpu().numpy()

    predicted_codes = codes(as_ensemble(prediction, info.realizations))
    true_codes = codes(truth)
    mean_codes = codes(as_ensemble(target, info.realizations))
    still = u0[:, None].expand_as(target)
    category_names = list(agent.tokenizer.category_names)
    level_names = list(agent.tokenizer.level_names)
    reports: list[dict[str, Any]] = []
    position = {int(r): k for k, r in enumerate(rows)}
    for index in wanted:
        k = position[int(index)]
        one = slice(k, k + 1)
        scaled = float(trajectory_error(prediction[one], target[one], scale[one]))
        baseline = float(trajectory_error(still[one], target[one], scale[one]))
        reports.append(
            {
                "index": int(index),
                "trajectory": {
                    "mse": float(trajectory_error(prediction[one], target[one])),
                    "scaled_mse": scaled,
                    "persistence_scaled_mse": baseline,
                    "skill": 1.0 - scaled / baseline if baseline > 0 else None,
                },
                "tokens": {
                    "predicted": predicted_codes[k].tolist(),
                    "true": true_codes[k].tolist(),
                    "mean_target": mean_codes[k].tolist(),
                    "agreement_with_true": _agreement(predicted_codes[k], true_codes[k]),
                    "agreement_with_mean_target": _agreement(predicted_codes[k], mean_codes[k]),
                },
            }
        )
    mean = {
        "scaled_mse": float(np.mean([r["trajectory"]["scaled_mse"] for r in reports])),
        "persistence_scaled_mse": float(
            np.mean([r["trajectory"]["persistence_scaled_mse"] for r in reports])
        ),
        "token_agreement_with_true": float(
            np.mean([r["tokens"]["agreement_with_true"]["all"] for r in reports])
        ),
        "coarse_token_agreement_with_true": float(
            np.mean([r["tokens"]["agreement_with_true"]["coarse"] for r in reports])
        ),
    }
    return {
        "dataset": str(dataset),
        "categories": category_names,
        "levels": level_names,
        "operators": reports,
        "mean": mean,
    }
