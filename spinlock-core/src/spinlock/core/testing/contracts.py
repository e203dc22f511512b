"""Contract checks for registered components.

A contract check is a function ``check(spec) -> None`` that raises :class:`ContractViolation` when a
component breaks the rules of its kind. Core provides the checks every component must pass
(:func:`check_component`); packages that own a kind add their own with :func:`contract_check`::

    @contract_check(ComponentKind.FEATURE_FAMILY)
    def check_columns_are_named(spec): ...

``check_component(spec)`` runs the generic checks and every check registered for the spec's kind.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import attrs

from spinlock.core.registry import ComponentKind, ComponentSpec

ContractCheck = Callable[[ComponentSpec], None]

_CHECKS: dict[ComponentKind, list[ContractCheck]] = {kind: [] for kind in ComponentKind}


class ContractViolation(AssertionError):
    """A component does not honour the contract of its kind."""

    def __init__(self, spec: ComponentSpec, message: str) -> None:
        super().__init__(f"{spec.kind.value} {spec.name!r} ({spec.distribution}): {message}")


def contract_check(kind: ComponentKind) -> Callable[[ContractCheck], ContractCheck]:
    """Decorator: add a check that every component of ``kind`` must pass."""

    def decorate(check: ContractCheck) -> ContractCheck:
        if check not in _CHECKS[kind]:
            _CHECKS[kind].append(check)
        return check

    return decorate


def checks_for(kind: ComponentKind) -> list[ContractCheck]:
    """The generic checks followed by the kind's own, in registration order."""
    return [*GENERIC_CHECKS, *_CHECKS[kind]]


def check_component(spec: ComponentSpec) -> None:
    """Run every contract check that applies to ``spec``; raises :class:`ContractViolation`."""
    for check in checks_for(spec.kind):
        check(spec)


def check_config_defaults(spec: ComponentSpec) -> None:
    """The config class is a frozen attrs class that builds from its defaults."""
    if not attrs.has(spec.config_cls):
        raise ContractViolation(spec, "config_cls is not an attrs class")
    try:
        instance = spec.config_cls()
    except Exception as exc:
        raise ContractViolation(spec, f"config class cannot be built from its defaults: {exc}") from exc
    fields = attrs.fields(spec.config_cls)
    if fields:
        try:
            setattr(instance, fields[0].name, getattr(instance, fields[0].name))
        except attrs.exceptions.FrozenInstanceError:
            return
        raise ContractViolation(spec, "config class is not frozen")


def check_config_round_trip(spec: ComponentSpec) -> None:
    """Default params unstructure to plain data and structure back to an equal config."""
    from spinlock.core.config.converter import make_converter

    converter = make_converter()
    default = spec.config_cls()
    data = converter.unstructure(default)
    try:
        json.dumps(data)
    except TypeError as exc:
        raise ContractViolation(spec, f"default params are not plain data: {exc}") from exc
    again: object = converter.structure(data, spec.config_cls)
    if again != default:
        raise ContractViolation(spec, f"params do not round-trip: {default!r} became {again!r}")


def check_factory_resolves(spec: ComponentSpec) -> None:
    """The lazy factory imports and is callable."""
    try:
        factory = spec.load()
    except Exception as exc:
        raise ContractViolation(spec, f"factory {spec.factory!r} does not import: {exc}") from exc
    if not callable(factory):
        raise ContractViolation(spec, f"factory {spec.factory!r} is not callable")


def check_summary(spec: ComponentSpec) -> None:
    """A one-line, non-empty summary."""
    if not spec.summary.strip() or "\n" in spec.summary:
        raise ContractViolation(spec, "summary must be one non-empty line")


def check_metadata_is_json(spec: ComponentSpec) -> None:
    try:
        json.dumps(dict(spec.metadata))
    except TypeError as exc:
        raise ContractViolation(spec, f"metadata is not JSON-serialisable: {exc}") from exc


GENERIC_CHECKS: tuple[ContractCheck, ...] = (
    check_summary,
    check_metadata_is_json,
    check_config_defaults,
    check_config_round_trip,
    check_factory_resolves,
)
