"""Every registered component passes the generic contract checks; the checks themselves catch violations."""

from __future__ import annotations

import attrs
import pytest

from spinlock.core.plugins import build_plugin_manager
from spinlock.core.registry import ComponentKind, ComponentSpec
from spinlock.core.testing import ContractViolation, check_component, contract_check
from spinlock.core.testing.contracts import checks_for

ALL_SPECS = list(build_plugin_manager(strict=True).components.all())


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: f"{s.kind.value}:{s.name}")
def test_registered_component_honours_contract(spec: ComponentSpec) -> None:
    check_component(spec)


@attrs.frozen
class GoodConfig:
    n: int = 1


@attrs.define
class MutableConfig:
    n: int = 1


@attrs.frozen
class NoDefaultsConfig:
    n: int


def spec_with(**overrides: object) -> ComponentSpec:
    fields = {
        "name": "toy",
        "kind": ComponentKind.SAMPLER,
        "config_cls": GoodConfig,
        "factory": "builtins:dict",
        "summary": "a toy",
        "plugin": "toy",
        "distribution": "spinlock-toy",
        "version": "0",
    }
    fields.update(overrides)
    return ComponentSpec(**fields)  # type: ignore[arg-type]


def test_good_spec_passes() -> None:
    check_component(spec_with())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"config_cls": MutableConfig}, "not frozen"),
        ({"config_cls": NoDefaultsConfig}, "defaults"),
        ({"factory": "no_such_module_xyz:thing"}, "does not import"),
        ({"factory": "builtins:__doc__"}, "not callable"),
        ({"summary": ""}, "summary"),
        ({"summary": "two\nlines"}, "summary"),
        ({"metadata": {"bad": object()}}, "JSON"),
    ],
)
def test_violations_are_caught(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ContractViolation, match=message):
        check_component(spec_with(**overrides))


def test_kind_specific_checks_are_added_and_run() -> None:
    seen: list[str] = []

    @contract_check(ComponentKind.ENCODER)
    def record(spec: ComponentSpec) -> None:
        seen.append(spec.name)

    try:
        check_component(spec_with(kind=ComponentKind.ENCODER, name="enc"))
        check_component(spec_with())  # a sampler: the encoder check does not apply
        assert seen == ["enc"]
        assert record in checks_for(ComponentKind.ENCODER)
    finally:
        from spinlock.core.testing import contracts

        contracts._CHECKS[ComponentKind.ENCODER].remove(record)
