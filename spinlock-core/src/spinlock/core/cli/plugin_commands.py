"""``spinlock list-plugins`` and ``spinlock --version``."""

from __future__ import annotations

import functools
import importlib.metadata
import json
import sys
from typing import TYPE_CHECKING, Any

import typer

from spinlock.core.cli.errors import fail

if TYPE_CHECKING:
    from spinlock.core.plugins import PluginManager

KIND_HELP = "Only plugins providing this component kind (sampler, operator_block, initial_condition, ...)."


@functools.cache
def listing_plugin_manager() -> PluginManager:
    """The CLI's plugin manager, built once per process with failures recorded rather than raised (what
    ``list-plugins`` shows, and where plugins add their commands)."""
    from spinlock.core.plugins import build_plugin_manager

    return build_plugin_manager(strict=False, warn=False)  # the CLI reports failures itself


@functools.cache
def cli_plugin_manager() -> PluginManager:
    """The plugin manager of commands that use components: each failed plugin is a one-line warning on
    stderr (once per process); with ``SPINLOCK_STRICT_PLUGINS=1`` a failed plugin is an error (exit 2)."""
    from spinlock.core.plugins import STRICT_ENV, PluginLoadError, _env_flag

    manager = listing_plugin_manager()
    if manager.failures and _env_flag(STRICT_ENV):
        fail(f"{PluginLoadError(manager.failures)}\n({STRICT_ENV} is set; see `spinlock list-plugins`)")
    for record in manager.failures:
        print(
            f"warning: spinlock plugin {record.name} ({record.distribution} {record.version}) failed to load "
            f"and was skipped: {record.error}",
            file=sys.stderr,
        )
    return manager


def installed_distributions() -> dict[str, str]:
    """Every installed ``spinlock-*`` distribution and its version."""
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"] or ""
        if name.lower().startswith("spinlock-") or name.lower() == "spinlock":
            found[name] = dist.version
    return dict(sorted(found.items()))


def version_callback(value: bool) -> None:
    if not value:
        return
    for name, version in installed_distributions().items():
        print(f"{name} {version}")
    raise typer.Exit()


def plugin_listing(manager: PluginManager, kind: str | None = None) -> list[dict[str, Any]]:
    """One JSON-able object per plugin: name, distribution, version, hooks, components, error, disabled."""
    rows = []
    for record in manager.records.values():
        components = manager.components_of(record.name)
        if kind is not None and kind not in components and record.error is None:
            continue
        if kind is not None:
            components = {k: v for k, v in components.items() if k == kind}
        rows.append(
            {
                "name": record.name,
                "distribution": record.distribution,
                "version": record.version,
                "module": record.module,
                "hooks": record.hooks,
                "components": components,
                "error": record.error,
                "disabled": record.disabled,
            }
        )
    return rows


def _component_details(manager: PluginManager, kind: str) -> list[dict[str, Any]]:
    return [
        {
            "name": spec.name,
            "plugin": spec.plugin,
            "distribution": spec.distribution,
            "summary": spec.summary,
            "metadata": dict(spec.metadata),
        }
        for spec in manager.components[kind]
    ]


def list_plugins(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of plugins on stdout."),
    kind: str | None = typer.Option(None, "--kind", help=KIND_HELP),
    strict: bool = typer.Option(
        False,
        "--strict",
        help="Exit with status 1 if any plugin failed to load (also SPINLOCK_STRICT_PLUGINS=1).",
    ),
) -> None:
    """List installed plugins and the components each provides."""
    from spinlock.core.registry import ComponentKind, unknown_name_message

    kinds = [k.value for k in ComponentKind]
    if kind is not None and kind not in kinds:
        fail(unknown_name_message("component kind", kind, kinds))
    from spinlock.core.plugins import STRICT_ENV, _env_flag

    manager = listing_plugin_manager()
    rows = plugin_listing(manager, kind)
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        _print_table(manager, rows, kind)
    if (strict or _env_flag(STRICT_ENV)) and manager.failures:
        raise typer.Exit(1)


def _abbreviate(names: list[str], limit: int = 8) -> str:
    if len(names) <= limit:
        return ", ".join(names)
    return f"{len(names)} ({', '.join(names[:3])}, …)"


def _print_table(manager: PluginManager, rows: list[dict[str, Any]], kind: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="Spinlock plugins")
    for column in ("Plugin", "Distribution", "Version", "Provides"):
        table.add_column(column)
    for row in rows:
        if row["error"] is not None:
            continue
        provides = " · ".join(f"{k}: {_abbreviate(v)}" for k, v in row["components"].items())
        status = " (disabled)" if row["disabled"] else ""
        table.add_row(row["name"] + status, row["distribution"], row["version"], provides or "—")
    console.print(table)
    if kind is not None:
        details = Table(title=f"{kind} components")
        for column in ("Name", "Plugin", "Summary", "Details"):
            details.add_column(column)
        for item in _component_details(manager, kind):
            extra = ", ".join(f"{k}={v}" for k, v in item["metadata"].items())
            details.add_row(item["name"], item["plugin"], item["summary"], extra)
        console.print(details)
    failed = [row for row in rows if row["error"] is not None]
    if failed:
        err = Console(stderr=True)
        err.print(f"[red]{len(failed)} plugin(s) failed to load:[/red]")
        for row in failed:
            err.print(
                f"  {row['name']} ({row['distribution']} {row['version']}): {row['error']}", markup=False
            )
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    app.command("list-plugins")(list_plugins)
