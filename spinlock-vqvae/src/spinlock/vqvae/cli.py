"""``spinlock train-vqvae`` and ``spinlock tokenize`` (registered through ``spinlock_register_commands``).

Import-light: torch and the training code are imported inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from spinlock.core.cli.errors import fail


def _describe_epoch(record: Any) -> str:
    """The progress bar's text: the reconstruction objective that early stopping monitors (the whole loss
    for a history written before the objective was recorded)."""
    key = "objective" if "train_objective" in record else "total"
    text = f"{key}: train {record[f'train_{key}']:.4f}"
    if f"val_{key}" in record:
        text += f" · val {record[f'val_{key}']:.4f}"
    return text


def _load_tokenizer_config(path: Path | None) -> tuple[Any, str]:
    from spinlock.core.config import ConfigError, loads_config, make_converter, read_config_text
    from spinlock.vqvae.config import TokenizerConfig, default_config_path

    source = path or default_config_path()
    try:
        text = read_config_text(source)
        config = loads_config(text, TokenizerConfig, make_converter(), str(source))
    except ConfigError as exc:
        fail(exc.render())
    except ValueError as exc:
        fail(f"{source}: {exc}")
    return config, text


def train_vqvae_command(
    dataset: Path = typer.Option(..., "--dataset", "-d", help="Dataset (HDF5) with the feature families."),
    output: Path = typer.Option(..., "--output", "-o", help="Directory for the model, metrics and report."),
    config_path: Path | None = typer.Option(
        None, "--config", "-c", help="Tokenizer config (YAML). Default: the embedded defaults."
    ),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Override training.epochs."),
    device: str | None = typer.Option(None, "--device", help="Override training.device (cpu, cuda, ...)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run saved in OUTPUT (last.pt)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """Clean the features, discover categories, train the hierarchical VQ-VAE and report its metrics."""
    import attrs

    from spinlock.core.cli.progress import EpochBar
    from spinlock.core.config import dump_config, make_converter
    from spinlock.core.distributed import env_rank
    from spinlock.core.storage import DatasetError
    from spinlock.vqvae.checkpoint import CheckpointError
    from spinlock.vqvae.data import load_table
    from spinlock.vqvae.report import json_ready, tokenizer_metrics
    from spinlock.vqvae.training import TrainingError, train_tokenizer

    config, text = _load_tokenizer_config(config_path)
    overrides = {k: v for k, v in (("epochs", epochs), ("device", device)) if v is not None}
    if overrides:
        config = attrs.evolve(config, training=attrs.evolve(config.training, **overrides))
        text = dump_config(config, make_converter())
    if config.training.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            fail(f"device {config.training.device}: CUDA is not available on this machine")
    if resume and not (output / "last.pt").exists():
        fail(f"--resume: {output / 'last.pt'} does not exist (nothing to resume)")
    if not resume and (output / "model.pt").exists():
        fail(f"{output} already holds a model; pass --resume to continue it or choose another --output")
    families = config.families
    main_rank = env_rank() == 0  # under torchrun only rank 0 reports and writes
    try:
        table = load_table(dataset, families.static_families(), families.temporal)
        result = train_tokenizer(
            table,
            config,
            output,
            config_yaml=text,
            provenance=_provenance(),
            resume=resume,
            progress=EpochBar(quiet or not main_rank, _describe_epoch),
            dataset=dataset,
        )
        if not main_rank:
            return
        report = tokenizer_metrics(result.tokenizer, table, result.validation_index)
    except (DatasetError, CheckpointError, TrainingError, ValueError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail(f"interrupted; continue with `spinlock train-vqvae ... --output {output} --resume`", 130)
    report["training"] = {
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "seconds": round(result.seconds, 2),
        "train_samples": len(result.train_index),
        "validation_samples": len(result.validation_index),
    }
    from spinlock.vqvae.metrics import summary_text

    report = json_ready(report)
    (output / "metrics.json").write_text(json.dumps(report, indent=1, allow_nan=True))
    text_report = summary_text(report)
    (output / "report.txt").write_text(text_report)
    if as_json:
        print(json.dumps(report, allow_nan=True))
    else:
        print(_headline(report, output))


def _split(report: dict[str, Any]) -> str:
    temporal = report.get("temporal_categories")
    return f" ({len(report['categories'])} static + {len(temporal)} TEMPORAL)" if temporal else ""


def _headline(report: dict[str, Any], output: Path) -> str:
    rec = report["reconstruction"]
    lines = [
        (
            f"{output}: {len(report['codebooks'])} token categories{_split(report)}, "
            f"best epoch {report['training']['best_epoch']}"
        ),
        f"  reconstruction R² {_score(rec['overall'])} (static)"
        + (
            f", {_score(rec['temporal'])} (temporal; its time mean {_score(rec.get('temporal_time_mean'))})"
            if rec.get("temporal") is not None
            else ""
        ),
        f"  coarse-level perplexity ≥ {report['coarse_perplexity_min_share']:.0%} of the codebook size",
        f"  metrics: {output / 'metrics.json'}, report: {output / 'report.txt'}",
    ]
    bad = report.get("nonfinite") or {}
    dropped, imputed = len(bad.get("dropped_columns", [])), len(bad.get("imputed_columns", {}))
    replaced = int(bad.get("temporal_values_replaced", 0))
    if dropped or imputed or replaced:
        lines.insert(
            -1,
            f"  NaN/inf in the features: {dropped} columns dropped, {imputed} imputed, {replaced} temporal "
            "values replaced (metrics.json: nonfinite)",
        )
    return "\n".join(lines)


def _score(value: float | None) -> str:
    """R² with three decimals; ``n/a`` where too few samples defined it."""
    return "n/a" if value is None else f"{value:.3f}"


def _provenance() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("spinlock-core", "spinlock-features", "spinlock-vqvae", "torch"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return out


def tokenize_command(
    model: Path = typer.Option(..., "--model", "-m", help="Directory written by `spinlock train-vqvae`."),
    dataset: Path | None = typer.Option(None, "--dataset", "-d", help="Dataset to tokenize (HDF5)."),
    array: Path | None = typer.Option(
        None, "--array", help="Instead of a dataset: an .npz of feature arrays, one key per family."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="With --array: where to save the ids (.npy)."
    ),
    name: str = typer.Option("vqvae", "--name", help="Token set name in the dataset (/tokens/NAME)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Give every sample its tokens: ``(categories, levels)`` code ids, written to /tokens/NAME."""
    import numpy as np

    from spinlock.core.storage import DatasetError
    from spinlock.vqvae.checkpoint import CheckpointError
    from spinlock.vqvae.tokenizer import Tokenizer

    if (dataset is None) == (array is None):
        fail("give exactly one of --dataset or --array")
    if array is not None and output is None:
        fail("--array needs --output for the token ids (.npy)")
    try:
        tokenizer = Tokenizer.load(model)
        if array is not None:
            ids = _tokenize_array(tokenizer, array)
            assert output is not None
            np.save(output, ids)
            summary = {"output": str(output), "shape": list(ids.shape)}
        else:
            assert dataset is not None
            summary = _tokenize_dataset(tokenizer, dataset, model, name)
    except (DatasetError, CheckpointError, ValueError, KeyError) as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(summary))
    elif array is not None:
        print(f"{output}: token ids {tuple(summary['shape'])}")
    else:
        print(
            f"{dataset}: /tokens/{name} for {summary['tokenized']} of {summary['n_operators']} operators "
            f"({summary['categories']} categories × {summary['levels']} levels)"
        )


def _tokenize_array(tokenizer: Any, path: Path) -> Any:
    import numpy as np

    from spinlock.vqvae.data import SEPARATOR, table_from_arrays

    families = tokenizer.config.families
    wanted = list(families.static_families())
    with np.load(path) as data:
        missing = [f for f in [*wanted, *([families.temporal] if families.temporal else [])] if f not in data]
        if missing:
            raise ValueError(f"{path} lacks arrays {missing} (has {sorted(data.files)})")
        static = {f: data[f] for f in wanted}
        temporal = data[families.temporal] if families.temporal else None
    names: dict[str, list[str]] = {f: [] for f in wanted}
    for full in tokenizer.cleaner.names:
        family, column = full.split(SEPARATOR, 1)
        names[family].append(column)
    table = table_from_arrays(static, names, temporal, tokenizer.temporal_names)
    return tokenizer.tokenize(table)


def _tokenize_dataset(tokenizer: Any, dataset: Path, model: Path, name: str) -> dict[str, Any]:
    import hashlib

    import numpy as np

    from spinlock.core.config import dump_config, make_converter
    from spinlock.core.storage import DatasetWriter
    from spinlock.vqvae.checkpoint import model_path
    from spinlock.vqvae.data import load_table

    families = tokenizer.config.families
    table = load_table(dataset, families.static_families(), families.temporal)
    ids = tokenizer.tokenize(table)
    with DatasetWriter.open_for_extraction(dataset) as writer:
        n = writer.n_operators
        full = np.full((n, *ids.shape[1:]), -1, dtype=np.int32)
        full[table.rows] = ids
        checkpoint = model_path(model)
        digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
        writer.write_tokens(
            name,
            full,
            categories=list(tokenizer.category_names),
            levels=list(tokenizer.level_names),
            codebook_sizes=list(tokenizer.codebook_sizes),
            model={"path": str(checkpoint.resolve()), "sha256": digest},
            model_config=dump_config(tokenizer.config, make_converter()),
            version="1.0",
            provider=f"spinlock-vqvae {_provenance().get('spinlock-vqvae', '?')}",
        )
    return {
        "dataset": str(dataset),
        "name": name,
        "n_operators": n,
        "tokenized": len(table),
        "categories": ids.shape[1],
        "levels": ids.shape[2],
    }


def register(app: typer.Typer) -> None:
    app.command("train-vqvae")(train_vqvae_command)
    app.command("tokenize")(tokenize_command)
