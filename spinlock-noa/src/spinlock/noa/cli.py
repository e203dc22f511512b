"""``spinlock train-noa`` and ``spinlock noa predict`` (registered through ``spinlock_register_commands``).

Import-light: torch and the training code are imported inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from spinlock.core.cli.errors import fail

NOA_GROUP = "noa"


def _describe_epoch(record: Any) -> str:
    text = f"train {record['train_total']:.4g}"
    if "val_total" in record:
        text += f" · val traj {record['val_trajectory']:.4g} (u0: {record['val_persistence_trajectory']:.4g})"
    return text


def _load_config(path: Path | None) -> tuple[Any, str]:
    from spinlock.core.config import ConfigError, loads_config, make_converter, read_config_text
    from spinlock.noa.config import NOAConfig, default_config_path

    source = path or default_config_path()
    try:
        text = read_config_text(source)
        config = loads_config(text, NOAConfig, make_converter(), str(source))
    except ConfigError as exc:
        fail(exc.render())
    except ValueError as exc:
        fail(f"{source}: {exc}")
    return config, text


def _provenance() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in (
        "spinlock-core",
        "spinlock-operators",
        "spinlock-features",
        "spinlock-vqvae",
        "spinlock-noa",
        "torch",
    ):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return out


def _check_device(device: str) -> None:
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        fail(f"device {device}: CUDA is not available on this machine")


def train_noa_command(
    dataset: Path = typer.Option(
        ..., "--dataset", "-d", help="Dataset (HDF5) whose operators the agent learns."
    ),
    vqvae: Path = typer.Option(
        ..., "--vqvae", help="Tokenizer directory written by `spinlock train-vqvae` on this dataset."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Directory for the agent, history and config."),
    config_path: Path | None = typer.Option(
        None, "--config", "-c", help="Agent config (YAML). Default: the embedded tiny CPU config."
    ),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Override training.epochs."),
    device: str | None = typer.Option(None, "--device", help="Override training.device (cpu, cuda, ...)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run saved in OUTPUT (last.pt)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Train the Neural Operator Agent: (θ, u0) → rollout, aligned with the frozen VQ-VAE tokenizer."""
    import attrs

    from spinlock.core.cli.plugin_commands import cli_plugin_manager
    from spinlock.core.cli.progress import EpochBar
    from spinlock.core.config import dump_config, make_converter
    from spinlock.core.distributed import env_rank
    from spinlock.core.storage import DatasetError
    from spinlock.noa.checkpoint import LAST_FILE, MODEL_FILE, CheckpointError
    from spinlock.noa.training import TrainingError, train_noa
    from spinlock.vqvae.checkpoint import CheckpointError as TokenizerCheckpointError

    config, text = _load_config(config_path)
    overrides = {k: v for k, v in (("epochs", epochs), ("device", device)) if v is not None}
    if overrides:
        config = attrs.evolve(config, training=attrs.evolve(config.training, **overrides))
        text = dump_config(config, make_converter())
    _check_device(config.training.device)
    if not dataset.is_file():
        fail(f"{dataset}: no such dataset file")
    if resume and not (output / LAST_FILE).exists():
        fail(f"--resume: {output / LAST_FILE} does not exist (nothing to resume)")
    if not resume and (output / MODEL_FILE).exists():
        fail(f"{output} already holds an agent; pass --resume to continue it or choose another --output")
    main_rank = env_rank() == 0  # under torchrun only rank 0 reports and writes
    try:
        result = train_noa(
            dataset,
            vqvae,
            output,
            config,
            config_yaml=text,
            manager=cli_plugin_manager(),
            provenance=_provenance(),
            resume=resume,
            progress=EpochBar(quiet or not main_rank, _describe_epoch),
        )
    except (DatasetError, CheckpointError, TokenizerCheckpointError, TrainingError, ValueError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail(f"interrupted; continue with `spinlock train-noa ... --output {output} --resume`", 130)
    if not main_rank:
        return
    best = next((h for h in result.history if h["epoch"] == result.best_epoch), {})
    summary = {
        "output": str(output),
        "parameters": result.n_parameters,
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "seconds": round(result.seconds, 2),
        "train_operators": len(result.train_rows),
        "validation_operators": len(result.validation_rows),
        "best": best,
    }
    if as_json:
        print(json.dumps(summary))
        return
    line = f"{output}: {result.n_parameters:,} parameters, best epoch {result.best_epoch}"
    if "val_trajectory" in best:
        line += (
            f"\n  validation trajectory error {best['val_trajectory']:.4g} "
            f"(predicting u0 forever: {best['val_persistence_trajectory']:.4g}), "
            f"latent {best['val_latent']:.4g}, commitment {best['val_commitment']:.4g}"
        )
    print(line)


def _parse_indices(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part[1:]:
            low, high = part.split("-", 1)
            if not (low.isdigit() and high.isdigit()) or int(high) < int(low):
                fail(f"--indices: {part!r} is not a range like 4-7")
            out += list(range(int(low), int(high) + 1))
        elif part.isdigit():
            out.append(int(part))
        else:
            fail(f"--indices: {part!r} is not a non-negative integer (use e.g. 0,3,8-11)")
    if not out:
        fail("--indices: no operator index given")
    return out


def predict_command(
    model: Path = typer.Option(..., "--model", "-m", help="Directory written by `spinlock train-noa`."),
    dataset: Path = typer.Option(..., "--dataset", "-d", help="Dataset (HDF5) holding the operators."),
    indices: str = typer.Option(..., "--indices", "-i", help="Operators to roll out, e.g. 0,3 or 0-7."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, ..."),
    as_json: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
) -> None:
    """Roll the agent out for operators' (θ, u0); compare trajectories and tokens with the true operators."""
    from spinlock.core.cli.plugin_commands import cli_plugin_manager
    from spinlock.core.storage import DatasetError
    from spinlock.noa.checkpoint import CheckpointError
    from spinlock.noa.predict import load_agent, predict
    from spinlock.vqvae.checkpoint import CheckpointError as TokenizerCheckpointError

    wanted = _parse_indices(indices)
    _check_device(device)
    if not dataset.is_file():
        fail(f"{dataset}: no such dataset file")
    try:
        agent = load_agent(model, device)
        report = predict(agent, dataset, wanted, cli_plugin_manager(), device=device)
    except (DatasetError, CheckpointError, TokenizerCheckpointError, ValueError) as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(report))
        return
    for item in report["operators"]:
        trajectory, tokens = item["trajectory"], item["tokens"]
        print(
            f"operator {item['index']}: scaled MSE {trajectory['scaled_mse']:.4g} "
            f"(u0 forever {trajectory['persistence_scaled_mse']:.4g}); tokens agree with the true operator's "
            f"{tokens['agreement_with_true']['all']:.0%} (coarse {tokens['agreement_with_true']['coarse']:.0%}), "
            f"with the mean target's {tokens['agreement_with_mean_target']['all']:.0%}"
        )
        coarse = {key: [row[0] for row in tokens[key]] for key in ("predicted", "true")}
        print(f"  coarse tokens: predicted {coarse['predicted']}, true {coarse['true']}")


def register(app: typer.Typer) -> None:
    """Add ``train-noa`` and the ``noa`` group (``noa predict``) to ``app``."""
    app.command("train-noa")(train_noa_command)
    group = typer.Typer(help="Use a trained Neural Operator Agent.", no_args_is_help=True)
    group.command("predict")(predict_command)
    app.add_typer(group, name=NOA_GROUP)
