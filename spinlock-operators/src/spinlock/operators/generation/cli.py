"""``spinlock generate``: registered by spinlock-operators through ``spinlock_register_commands``.

Import-light: torch and the pipeline are imported inside the command.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from spinlock.core.cli.errors import fail
from spinlock.operators.generation.scaleout_cli import (
    choose_executor,
    parse_shard,
    resolve_threads,
    run_sharded,
    stored_plan,
    stored_source,
)


def _load_config(config_path: Path | None, output: Path, resume: bool, manager: Any) -> Any:
    from spinlock.core.config import RunConfig, load_run_config, loads_config, make_converter
    from spinlock.core.defaults import quick_config_path

    source = stored_source(output) if config_path is None and resume else None
    if source is not None:
        from spinlock.core.storage import open_dataset

        with open_dataset(source) as reader:
            text = reader.config_yaml
        return loads_config(text, RunConfig, make_converter(manager.components), f"{source} (stored config)")
    return load_run_config(config_path or quick_config_path(), manager)


class _RichProgress:
    def __init__(self, quiet: bool) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("generating"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("operators · {task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=quiet,
        )
        self._task: Any = None
        self._started = 0.0
        self._count = 0

    def start(self, total: int, already_done: int) -> None:
        import time

        self._bar.start()
        self._task = self._bar.add_task("generate", total=total, completed=already_done, rate="…")
        self._started = time.perf_counter()

    def advance(self, n: int) -> None:
        import time

        self._count += n
        rate = self._count / max(time.perf_counter() - self._started, 1e-9)
        self._bar.update(self._task, advance=n, rate=f"{rate:.1f}/s")

    def stop(self) -> None:
        self._bar.stop()


def _resume_command(output: Path, batch_size: str, device: str, precision: str, shard: str | None) -> str:
    """The command line that finishes ``output`` under this run's compute plan (config and threads are
    read from the file)."""
    words = ["spinlock generate -o", str(output), "--resume", "--batch-size", batch_size]
    for flag, value, default in (("--device", device, "cpu"), ("--precision", precision, "float32")):
        if value != default:
            words += [flag, value]
    if shard is not None:
        words += ["--shard", shard]
    return " ".join(words)


def _batch_size(
    value: str, budget_gib: float | None, config: Any, output: Path, resume: bool, device: str, manager: Any
) -> int:
    if value != "auto":
        try:
            size = int(value)
        except ValueError:
            fail(f"--batch-size must be a positive integer or 'auto': {value!r}")
        if size < 1:
            fail(f"--batch-size must be >= 1: {size}")
        return size
    if resume:
        stored = stored_plan(output)
        if stored is not None:
            return int(stored["batch_size"])  # the number auto chose when the file was started
    from spinlock.operators.generation.pipeline import auto_batch_size_for

    budget = None if budget_gib is None else int(budget_gib * 1024**3)
    return auto_batch_size_for(config, manager, device, budget)


def generate_command(
    output: Path = typer.Option(..., "--output", "-o", help="Dataset file to write (HDF5)."),
    config_path: Path | None = typer.Option(
        None, "--config", "-c", help="Run config (YAML). Default: the embedded quick run."
    ),
    seed: int | None = typer.Option(None, "--seed", min=0, help="Override the config's seed."),
    n: int | None = typer.Option(None, "--n", min=1, help="Override the number of operators."),
    batch_size: str = typer.Option(
        "16", "--batch-size", help="Operators per batched computation, or 'auto' to fit --memory-budget."
    ),
    memory_budget: float | None = typer.Option(
        None,
        "--memory-budget",
        min=0.001,
        help="GiB for --batch-size auto (default: half the free RAM or 80%% of free GPU memory).",
    ),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:1, …"),
    precision: str = typer.Option("float32", "--precision", help="float32, bfloat16 or float16 (opt-in)."),
    threads: int | None = typer.Option(
        None,
        "--threads",
        min=1,
        help="torch CPU threads; part of the compute plan (results depend on it). "
        "Default: torch's current count, or the stored plan's on --resume.",
    ),
    executor: str | None = typer.Option(
        None,
        "--executor",
        help="Run shards on this executor and merge them: local or dask (default: the config's "
        "`executor:`, else local in one piece).",
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Dask scheduler address (tcp://host:8786); default: start a LocalCluster."
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Worker processes of the Dask LocalCluster (default: one per core)."
    ),
    shards: int | None = typer.Option(
        None, "--shards", min=1, help="Number of shards (default: one per executor worker)."
    ),
    shard: str | None = typer.Option(
        None,
        "--shard",
        help="Generate only shard I/N (0-based) into --output, for job arrays; combine with `spinlock merge`.",
    ),
    keep_shards: bool = typer.Option(
        False, "--keep-shards", help="Keep <output>.shards/ after a sharded run is merged."
    ),
    resume: bool = typer.Option(False, "--resume", help="Finish an interrupted dataset."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing dataset."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Sample θ, build random operators, roll them out from their ICs, and write a dataset."""
    import attrs

    from spinlock.core.cli.plugin_commands import cli_plugin_manager
    from spinlock.core.config import ConfigError, dump_run_config
    from spinlock.core.executors import ExecutorError
    from spinlock.core.interrupts import deferred_interrupts
    from spinlock.core.registry import RegistryError
    from spinlock.core.storage import DatasetError, MergeError
    from spinlock.operators.generation.pipeline import ComputePlan, generate
    from spinlock.operators.generation.plan import PlanError

    # the first Ctrl-C stops after the current batch (a KeyboardInterrupt raised at an arbitrary point can
    # land in a finaliser, where Python only prints it); the second stops at once
    with deferred_interrupts("stopping after the current batch (Ctrl-C again to stop now)"):
        try:
            manager = cli_plugin_manager()
            one_shard = parse_shard(shard)
            config = _load_config(config_path, output, resume, manager)
            overrides = {k: v for k, v in (("seed", seed), ("n_operators", n)) if v is not None}
            config = attrs.evolve(config, **overrides)
            if device.startswith("cuda"):
                import torch

                if not torch.cuda.is_available():
                    fail(f"--device {device}: CUDA is not available on this machine")
            size = _batch_size(batch_size, memory_budget, config, output, resume, device, manager)
            plan = ComputePlan(
                batch_size=size,
                device=device,
                precision=precision,
                threads=resolve_threads(threads, output, resume),
            )
            choice = choose_executor(
                manager,
                config,
                executor=executor,
                scheduler=scheduler,
                workers=workers,
                shards=shards,
                shard=one_shard,
            )
            if choice is None:
                summary = generate(
                    config,
                    dump_run_config(config, manager),
                    output,
                    manager,
                    plan=plan,
                    resume=resume,
                    overwrite=overwrite,
                    progress=_RichProgress(quiet),
                    shard=one_shard,
                )
            else:
                summary = run_sharded(
                    choice,
                    manager,
                    config,
                    dump_run_config(config, manager),
                    output,
                    plan,
                    resume=resume,
                    overwrite=overwrite,
                    keep_shards=keep_shards,
                    quiet=quiet,
                )
        except (ConfigError, PlanError, DatasetError, RegistryError, ExecutorError, MergeError) as exc:
            fail(str(exc))
        except ValueError as exc:  # a validator of a component config or the compute plan
            fail(str(exc))
        except KeyboardInterrupt:
            again = _resume_command(output, batch_size, device, precision, shard)
            fail(f"interrupted; completed operators are kept: resume with `{again}`", 130)
    payload = {
        "path": str(summary.path),
        "n_operators": summary.n_operators,
        "written": summary.operators_written,
        "batches_run": summary.batches_run,
        "status": summary.status_counts,
        "seconds": round(summary.seconds, 3),
        "nonfinite_features": summary.nonfinite_features,
    }
    if summary.nonfinite_features:
        families = ", ".join(f"{k}: {v}" for k, v in summary.nonfinite_features.items())
        print(
            f"warning: {summary.path}: operators with NaN or inf features ({families}); their states are so "
            "large that float32 feature arithmetic overflows: lower rollout.divergence_threshold "
            f"(now {config.rollout.divergence_threshold:g}) or rescale the operators",
            file=sys.stderr,
        )
    if as_json:
        print(json.dumps(payload))
    else:
        status = ", ".join(f"{v} {k}" for k, v in summary.status_counts.items())
        print(
            f"{summary.path}: {summary.n_operators} operators ({status}); wrote {summary.operators_written} "
            f"in {summary.seconds:.1f} s"
        )


def register(app: typer.Typer) -> None:
    app.command("generate")(generate_command)
