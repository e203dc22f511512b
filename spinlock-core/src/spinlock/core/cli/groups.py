"""Command groups that several plugins add to (``spinlock visualize …``)."""

from __future__ import annotations

from typing import Any

import typer

VISUALIZE = "visualize"


def _group_name(info: Any) -> str | None:
    """The name a registered group is invoked by (from ``add_typer(name=...)`` or ``Typer(name=...)``)."""
    for name in (info.name, getattr(info.typer_instance.info, "name", None)):
        if isinstance(name, str):
            return name
    return None


def visualize_group(app: typer.Typer) -> typer.Typer:
    """The ``visualize`` sub-app of ``app``: the one already added (by any plugin), else a new one.

    Whichever plugin registers first creates the group and the others add to it, so the commands do not
    depend on the order plugins are loaded in.
    """
    for info in app.registered_groups:
        if _group_name(info) == VISUALIZE and info.typer_instance is not None:
            group: typer.Typer = info.typer_instance
            return group
    group = typer.Typer(help="Pictures of spinlock components.", no_args_is_help=True)
    app.add_typer(group, name=VISUALIZE)
    return group
