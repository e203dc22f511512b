"""Component specs and the typed registries that plugins fill.

A :class:`ComponentSpec` describes one registered component: its name, its kind, the attrs class of its
configuration, a lazy ``"module:attr"`` factory, a one-line summary, and the plugin and distribution that
provided it. Nothing is imported until :meth:`ComponentSpec.load` is called.
"""

from __future__ import annotations

import difflib
import enum
import importlib
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import attrs


class ComponentKind(enum.StrEnum):
    """The kinds of component a plugin can provide."""

    SAMPLER = "sampler"
    OPERATOR_BLOCK = "operator_block"
    INITIAL_CONDITION = "initial_condition"
    FEATURE_FAMILY = "feature_family"
    ENCODER = "encoder"
    EXECUTOR = "executor"


class RegistryError(Exception):
    """A component could not be registered or found."""


class DuplicateComponentError(RegistryError):
    """Two providers registered the same name for the same kind."""


class ComponentLoadError(RegistryError):
    """A registered component's factory could not be imported (raised at use, by :meth:`ComponentSpec.load`)."""


class UnknownComponentError(RegistryError, KeyError):
    """A name was looked up that no plugin registered."""

    def __init__(self, kind: ComponentKind, name: str, available: list[str]) -> None:
        self.kind = kind
        self.name = name
        self.available = available
        super().__init__(name)

    def __str__(self) -> str:
        return unknown_name_message(f"{self.kind.value}", self.name, self.available)


def suggest(name: str, candidates: list[str] | set[str] | Mapping[str, Any]) -> str | None:
    """The closest candidate to ``name``, or ``None`` when nothing is close."""
    matches = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_name_message(what: str, name: str, available: list[str]) -> str:
    """``unknown <what> 'x' (did you mean 'y'?); available: a, b``."""
    message = f"unknown {what} {name!r}"
    guess = suggest(name, available)
    if guess is not None:
        message += f" (did you mean {guess!r}?)"
    if available:
        message += "; available: " + ", ".join(sorted(available))
    else:
        message += "; none is registered (is the plugin that provides it installed?)"
    return message


def _check_factory(factory: str) -> None:
    module, sep, attr = factory.partition(":")
    if not sep or not module or not attr:
        raise RegistryError(f"factory must be 'module:attr', got {factory!r}")


@attrs.frozen(kw_only=True)
class ComponentSpec:
    """One registered component.

    :param name: the name users write in configs (``kind: <name>``).
    :param kind: which registry it lives in.
    :param config_cls: frozen attrs class of its parameters (``params:`` in a config).
    :param factory: ``"module:attr"`` of the callable that builds the component from a config instance.
    :param summary: one line shown by ``spinlock list-plugins``.
    :param plugin: name of the plugin that registered it.
    :param distribution: distribution that ships that plugin.
    :param version: version of that distribution.
    :param metadata: free-form facts for listings (e.g. ``{"tier": 2}``); JSON-serialisable values only.
    """

    name: str
    kind: ComponentKind
    config_cls: type
    factory: str = attrs.field(validator=lambda _i, _a, v: _check_factory(v))
    summary: str
    plugin: str
    distribution: str
    version: str
    metadata: Mapping[str, Any] = attrs.field(factory=dict)

    def load(self) -> Any:
        """Import and return the factory object (a class or function).

        :raises ComponentLoadError: the factory cannot be imported; the message names the component, its
            plugin and distribution, and the error.
        """
        module_name, _, attr_path = self.factory.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr_path.split("."):
                obj = getattr(obj, part)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            raise ComponentLoadError(
                f"{self.kind.value} {self.name!r} of plugin {self.plugin!r} ({self.distribution} "
                f"{self.version}) cannot be loaded: factory {self.factory!r} failed with {reason}"
            ) from exc
        return obj

    def build(self, config: Any = None) -> Any:
        """Build the component from a config instance (its config class's defaults when ``None``)."""
        if config is None:
            config = self.config_cls()
        if not isinstance(config, self.config_cls):
            raise TypeError(
                f"{self.kind.value} {self.name!r} expects a {self.config_cls.__name__}, "
                f"got {type(config).__name__}"
            )
        return self.load()(config)


@attrs.frozen
class Provider:
    """Who is registering: set by the plugin manager around each hook call."""

    plugin: str
    distribution: str
    version: str


class Registry:
    """Components of one kind, keyed by name.

    Plugins receive a registry in their ``spinlock_register_*`` hook and call :meth:`add`.
    """

    kind: ClassVar[ComponentKind]

    def __init__(self) -> None:
        self._specs: dict[str, ComponentSpec] = {}
        self._provider = Provider("(unknown)", "(unknown)", "0")

    def set_provider(self, provider: Provider) -> None:
        """Record who provides the next :meth:`add` calls (used by the plugin manager)."""
        self._provider = provider

    def add(
        self,
        name: str,
        *,
        config_cls: type,
        factory: str,
        summary: str,
        metadata: Mapping[str, Any] | None = None,
    ) -> ComponentSpec:
        """Register a component; a name already taken in this kind raises :class:`DuplicateComponentError`."""
        if not name or not name.replace("_", "a").replace("-", "a").isalnum():
            raise RegistryError(f"invalid {self.kind.value} name {name!r}: use letters, digits, '_' or '-'")
        if not attrs.has(config_cls):
            raise RegistryError(f"{self.kind.value} {name!r}: config_cls must be an attrs class")
        if name in self._specs:
            other = self._specs[name]
            raise DuplicateComponentError(
                f"{self.kind.value} {name!r} is registered twice: by plugin {other.plugin!r} "
                f"({other.distribution} {other.version}) and by plugin {self._provider.plugin!r} "
                f"({self._provider.distribution} {self._provider.version})"
            )
        spec = ComponentSpec(
            name=name,
            kind=self.kind,
            config_cls=config_cls,
            factory=factory,
            summary=summary,
            plugin=self._provider.plugin,
            distribution=self._provider.distribution,
            version=self._provider.version,
            metadata=dict(metadata or {}),
        )
        self._specs[name] = spec
        return spec

    def remove_plugin(self, plugin: str) -> None:
        """Drop every spec a plugin registered (used when its hook fails half-way)."""
        self._specs = {k: v for k, v in self._specs.items() if v.plugin != plugin}

    def get(self, name: str) -> ComponentSpec:
        """The spec called ``name``; :class:`UnknownComponentError` with suggestions otherwise."""
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownComponentError(self.kind, name, self.names()) from None

    def names(self) -> list[str]:
        return list(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[ComponentSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)


class SamplerRegistry(Registry):
    """Registry of parameter samplers."""

    kind = ComponentKind.SAMPLER


class OperatorBlockRegistry(Registry):
    """Registry of operator blocks and architectures."""

    kind = ComponentKind.OPERATOR_BLOCK


class InitialConditionRegistry(Registry):
    """Registry of initial-condition generators."""

    kind = ComponentKind.INITIAL_CONDITION


class FeatureFamilyRegistry(Registry):
    """Registry of feature families."""

    kind = ComponentKind.FEATURE_FAMILY


class EncoderRegistry(Registry):
    """Registry of encoders and tokenizers."""

    kind = ComponentKind.ENCODER


class ExecutorRegistry(Registry):
    """Registry of executors."""

    kind = ComponentKind.EXECUTOR


REGISTRY_CLASSES: dict[ComponentKind, type[Registry]] = {
    cls.kind: cls
    for cls in (
        SamplerRegistry,
        OperatorBlockRegistry,
        InitialConditionRegistry,
        FeatureFamilyRegistry,
        EncoderRegistry,
        ExecutorRegistry,
    )
}

#: hook name → kind of registry it fills
REGISTRATION_HOOKS: dict[str, ComponentKind] = {
    "spinlock_register_samplers": ComponentKind.SAMPLER,
    "spinlock_register_operator_blocks": ComponentKind.OPERATOR_BLOCK,
    "spinlock_register_initial_conditions": ComponentKind.INITIAL_CONDITION,
    "spinlock_register_feature_families": ComponentKind.FEATURE_FAMILY,
    "spinlock_register_encoders": ComponentKind.ENCODER,
    "spinlock_register_executors": ComponentKind.EXECUTOR,
}


class Components:
    """All registries, one per kind."""

    def __init__(self) -> None:
        self._registries: dict[ComponentKind, Registry] = {k: cls() for k, cls in REGISTRY_CLASSES.items()}

    def __getitem__(self, kind: ComponentKind | str) -> Registry:
        return self._registries[ComponentKind(kind)]

    def get(self, kind: ComponentKind | str, name: str) -> ComponentSpec:
        return self[kind].get(name)

    def all(self) -> Iterator[ComponentSpec]:
        for registry in self._registries.values():
            yield from registry
