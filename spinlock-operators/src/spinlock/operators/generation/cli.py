"""``spinlock generate``: registered by spinlock-operators through ``spinlock_register_commands``.

Import-light: torch and the pipeline are imported inside the command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from spinlock.core.cli.errors import fail


def _load_config(config_path: Path | None, output: Path, resume: bool, manager: Any) -> Any:
    from spinlock.core.config import RunConfig, load_run_config, loads_config, make_converter
    from spinlock.core.defaults import quick_config_path

    if config_path is None and resume and output.exists():
        from spinlock.core.storage import open_dataset

        with open_dataset(output) as reader:
            text = reader.config_yaml
        return loads_config(text, RunConfig, make_converter(manager.components), f"{output} (stored config)")
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
    if resume and output.exists():
        from spinlock.core.storage import open_dataset

        with open_dataset(output) as reader:
            stored = reader.compute_plan
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
    resume: bool = typer.Option(False, "--resume", help="Finish an interrupted dataset."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing dataset."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Sample θ, build random operators, roll them out from their ICs, and write a dataset."""
    import attrs

    from spinlock.core.cli.plugin_commands import cli_plugin_manager
    from spinlock.core.config import ConfigError, dump_run_config
    from spinlock.core.registry import RegistryError
    from spinlock.core.storage import DatasetError
    from spinlock.operators.generation.pipeline import ComputePlan, generate
    from spinlock.operators.generation.plan import PlanError

    manager = cli_plugin_manager()
    try:
        config = _load_config(config_path, output, resume, manager)
        overrides = {k: v for k, v in (("seed", seed), ("n_operators", n)) if v is not None}
        config = attrs.evolve(config, **overrides)
        if device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                fail(f"--device {device}: CUDA is not available on this machine")
        size = _batch_size(batch_size, memory_budget, config, output, resume, device, manager)
        plan = ComputePlan(batch_size=size, device=device, precision=precision)
        summary = generate(
            config,
            dump_run_config(config, manager),
            output,
            manager,
            plan=plan,
            resume=resume,
            overwrite=overwrite,
            progress=_RichProgress(quiet),
        )
    except (ConfigError, PlanError, DatasetError, RegistryError) as exc:
        fail(str(exc))
    except ValueError as exc:  # a validator of a component config or the compute plan
        fail(str(exc))
    except KeyboardInterrupt:
        fail(
            f"interrupted; completed operators are kept: resume with `spinlock generate -o {output} --resume`",
            130,
        )
    payload = {
        "path": str(summary.path),
        "n_operators": summary.n_operators,
        "written": summary.operators_written,
        "batches_run": summary.batches_run,
        "status": summary.status_counts,
        "seconds": round(summary.seconds, 3),
    }
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
