"""Fake entry points for testing plugin discovery without installing distributions."""

from __future__ import annotations

from typing import Any

from spinlock.core.plugins import EntryPointInfo


def FakeEntryPoint(  # noqa: N802 - reads like a class at call sites
    name: str,
    plugin: Any = None,
    *,
    distribution: str | None = None,
    version: str = "0.0.1",
    error: BaseException | None = None,
    requires: tuple[str, ...] = (),
) -> EntryPointInfo:
    """An entry point that loads ``plugin`` (or raises ``error`` on load).

    :param name: plugin name (the entry point's name).
    :param plugin: the object returned by ``load()``: a module, class instance or namespace of hookimpls.
    :param distribution: distribution that declares it (default ``spinlock-<name>``).
    :param error: raise this from ``load()`` instead, e.g. ``ModuleNotFoundError("No module named 'pywt'")``.
    :param requires: the distribution's ``Requires-Dist`` lines, e.g. ``("spinlock-core>=9",)``.
    """

    def load() -> Any:
        if error is not None:
            raise error
        return plugin

    return EntryPointInfo(
        name=name,
        value=f"{getattr(plugin, '__name__', type(plugin).__name__)}",
        distribution=distribution or f"spinlock-{name}",
        version=version,
        load=load,
        requires=requires,
    )
