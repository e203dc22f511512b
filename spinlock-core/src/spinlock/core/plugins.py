"""Plugin discovery and loading.

Spinlock uses its own entry-point loader rather than pluggy's ``load_setuptools_entrypoints`` so that one
broken plugin is reported by name and the rest still load:

- an import error or an exception raised in a registration hook marks that plugin failed, removes what it
  registered, and leaves the others alone;
- two distributions that declare the same plugin name both fail, each naming the other;
- two plugins that register the same component name: the second fails, naming both providers;
- a plugin whose distribution requires another spinlock-core (``Requires-Dist: spinlock-core...``) fails
  without being imported.

``SPINLOCK_STRICT_PLUGINS=1`` turns any failure into :class:`PluginLoadError`; ``SPINLOCK_DISABLE_PLUGINS=a,b``
skips plugins by name. Loading imports no torch: plugin modules name their factories lazily.
"""

from __future__ import annotations

import importlib.metadata
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs
import pluggy

from spinlock.core import hookspecs
from spinlock.core.compat import core_requirement_problem
from spinlock.core.registry import (
    REGISTRATION_HOOKS,
    Components,
    ComponentSpec,
    Provider,
    suggest,
)

ENTRY_POINT_GROUP = "spinlock"
STRICT_ENV = "SPINLOCK_STRICT_PLUGINS"
DISABLE_ENV = "SPINLOCK_DISABLE_PLUGINS"
CORE_DISTRIBUTION = "spinlock-core"

#: Core's own plugins, registered directly (not through entry points): (plugin name, module).
BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (("core", "spinlock.core.builtin"),)


class PluginLoadError(Exception):
    """Raised in strict mode when one or more plugins failed to load."""

    def __init__(self, failures: Sequence[PluginRecord]) -> None:
        self.failures = list(failures)
        lines = [f"{len(self.failures)} plugin(s) failed to load:"]
        lines += [f"  {f.name} ({f.distribution} {f.version}): {f.error}" for f in self.failures]
        super().__init__("\n".join(lines))


@attrs.define
class PluginRecord:
    """What is known about one plugin after loading: where it came from and whether it worked."""

    name: str
    distribution: str
    version: str
    module: str
    error: str | None = None
    disabled: bool = False
    hooks: list[str] = attrs.field(factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.disabled

    def fail(self, message: str) -> None:
        # Keep the first error: later ones are usually consequences of it.
        if self.error is None:
            self.error = message


@attrs.frozen
class EntryPointInfo:
    """An entry point in the ``spinlock`` group together with the distribution that declares it."""

    name: str
    value: str
    distribution: str
    version: str
    load: Callable[[], Any]
    #: the distribution's ``Requires-Dist`` lines (checked against the installed spinlock-core)
    requires: tuple[str, ...] = ()


def discover_entry_points() -> list[EntryPointInfo]:
    """Every entry point of the ``spinlock`` group in the installed distributions."""
    found: list[EntryPointInfo] = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        name = dist.metadata["Name"] if dist is not None else "(unknown)"
        version = dist.version if dist is not None else "0"
        requires = tuple(dist.requires or ()) if dist is not None else ()
        found.append(EntryPointInfo(ep.name, ep.value, name, version, ep.load, requires))
    return found


def describe_exception(exc: BaseException) -> str:
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return f"ModuleNotFoundError: No module named {exc.name!r}"
    return f"{type(exc).__name__}: {exc}"


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str) -> set[str]:
    return {part.strip() for part in os.environ.get(name, "").split(",") if part.strip()}


class PluginManager:
    """Spinlock's plugin manager: a pluggy manager plus the registries its plugins filled."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.components = Components()
        self.records: dict[str, PluginRecord] = {}

    @property
    def failures(self) -> list[PluginRecord]:
        return [r for r in self.records.values() if r.error is not None]

    def get(self, kind: str, name: str) -> ComponentSpec:
        """Look up a component; raises :class:`~spinlock.core.registry.UnknownComponentError`."""
        return self.components.get(kind, name)

    def components_of(self, plugin: str) -> dict[str, list[str]]:
        """kind → names of the components that ``plugin`` provided."""
        out: dict[str, list[str]] = {}
        for spec in self.components.all():
            if spec.plugin == plugin:
                out.setdefault(spec.kind.value, []).append(spec.name)
        return out

    # -- loading -------------------------------------------------------------------------------------------

    def register(self, plugin: object, record: PluginRecord) -> None:
        """Register a plugin object (module or instance) under ``record.name``."""
        self.records[record.name] = record
        if record.disabled:
            return
        try:
            self.pm.register(plugin, name=record.name)
        except Exception as exc:  # pluggy validation errors, double registration
            record.fail(describe_exception(exc))
            return
        record.hooks = sorted(
            impl_name
            for impl_name in dir(plugin)
            if impl_name.startswith("spinlock_") and callable(getattr(plugin, impl_name, None))
        )

    def load_entry_points(self, entry_points: Iterable[EntryPointInfo]) -> None:
        """Import and register each entry point, isolating failures."""
        disabled = _env_list(DISABLE_ENV)
        entries = list(entry_points)
        by_name: dict[str, list[EntryPointInfo]] = {}
        for ep in entries:
            by_name.setdefault(ep.name, []).append(ep)
        for name, eps in by_name.items():
            dists = sorted({ep.distribution for ep in eps})
            if len(eps) > 1 or name in self.records:
                providers = dists + ([self.records[name].distribution] if name in self.records else [])
                for ep in eps:
                    record = PluginRecord(name, ep.distribution, ep.version, ep.value)
                    record.fail(
                        f"plugin name {name!r} is declared by more than one distribution "
                        f"({', '.join(sorted(set(providers)))}); none of them was loaded"
                    )
                    self.records[f"{name}@{ep.distribution}"] = record
                continue
            ep = eps[0]
            record = PluginRecord(name, ep.distribution, ep.version, ep.value, disabled=name in disabled)
            if record.disabled:
                self.records[name] = record
                continue
            incompatible = core_requirement_problem(ep.requires, _core_version())
            if incompatible is not None:  # not even imported: it may not import against this core
                record.fail(incompatible)
                self.records[name] = record
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                record.fail(describe_exception(exc))
                self.records[name] = record
                continue
            self.register(plugin, record)

    def run_registration(self) -> None:
        """Call every registration hook implementation, one plugin at a time."""
        for hook_name, kind in REGISTRATION_HOOKS.items():
            registry = self.components[kind]
            caller = getattr(self.pm.hook, hook_name)
            for impl in caller.get_hookimpls():  # registration order
                record = self.records.get(impl.plugin_name)
                if record is None or not record.ok:
                    continue
                registry.set_provider(Provider(record.name, record.distribution, record.version))
                kwargs = dict.fromkeys(impl.argnames, registry)
                try:
                    impl.function(**kwargs)
                except Exception as exc:
                    record.fail(f"in {hook_name}: {describe_exception(exc)}")
        self._check_unknown_hooks()
        for record in self.failures:
            for kind in REGISTRATION_HOOKS.values():
                self.components[kind].remove_plugin(record.name)

    def _check_unknown_hooks(self) -> None:
        known = set(REGISTRATION_HOOKS) | {"spinlock_register_commands"}
        for record in self.records.values():
            plugin = self.pm.get_plugin(record.name)
            if plugin is None:
                continue
            for attr in dir(plugin):
                fn = getattr(plugin, attr, None)
                if attr.startswith("spinlock_") and attr not in known and hasattr(fn, "spinlock_impl"):
                    guess = suggest(attr, known)
                    hint = f" (did you mean {guess!r}?)" if guess else ""
                    record.fail(f"implements unknown hook {attr!r}{hint}")

    def call_command_hooks(self, app: Any) -> None:
        """Let plugins add CLI commands; a failing plugin is recorded, the others still add theirs."""
        for impl in self.pm.hook.spinlock_register_commands.get_hookimpls():
            record = self.records.get(impl.plugin_name)
            if record is None or not record.ok:
                continue
            try:
                impl.function(**dict.fromkeys(impl.argnames, app))
            except Exception as exc:
                record.fail(f"in spinlock_register_commands: {describe_exception(exc)}")

    def raise_if_failed(self) -> None:
        if self.failures:
            raise PluginLoadError(self.failures)


def _core_version() -> str:
    from spinlock.core import __version__

    return __version__


def build_plugin_manager(
    *,
    load_entry_points: bool = True,
    entry_points: Iterable[EntryPointInfo] | None = None,
    extra_plugins: Sequence[tuple[str, object]] = (),
    strict: bool | None = None,
    warn: bool = True,
) -> PluginManager:
    """Build a fresh plugin manager.

    :param load_entry_points: discover plugins from installed distributions.
    :param entry_points: use these instead of the installed ones (tests).
    :param extra_plugins: ``(name, object)`` pairs registered after the entry points (tests, notebooks).
    :param strict: raise :class:`PluginLoadError` on any failure; default from ``SPINLOCK_STRICT_PLUGINS``.
    :param warn: when not strict, emit a :class:`PluginWarning` per failure (callers that report failures
        themselves, like the CLI, turn this off).
    """
    import importlib

    manager = PluginManager()
    version = _core_version()
    for name, module_name in BUILTIN_PLUGINS:
        record = PluginRecord(name, CORE_DISTRIBUTION, version, module_name)
        manager.register(importlib.import_module(module_name), record)
    if entry_points is not None:
        manager.load_entry_points(entry_points)
    elif load_entry_points:
        manager.load_entry_points(discover_entry_points())
    for name, plugin in extra_plugins:
        manager.register(plugin, PluginRecord(name, "(local)", "0", type(plugin).__name__))
    manager.run_registration()
    if strict is None:
        strict = _env_flag(STRICT_ENV)
    if strict:
        manager.raise_if_failed()
    elif warn:
        for failure in manager.failures:
            warnings.warn(
                f"spinlock plugin {failure.name} ({failure.distribution} {failure.version}) "
                f"failed to load: {failure.error}",
                PluginWarning,
                stacklevel=2,
            )
    return manager


class PluginWarning(UserWarning):
    """A plugin failed to load and was skipped."""
