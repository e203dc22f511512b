"""The guarded entry-point loader: failures are isolated and reported by plugin name."""

from __future__ import annotations

import types

import attrs
import pytest

from spinlock.core import hookimpl
from spinlock.core.plugins import PluginLoadError, build_plugin_manager
from spinlock.core.registry import (
    ComponentKind,
    DuplicateComponentError,
    RegistryError,
    UnknownComponentError,
)
from spinlock.core.testing import FakeEntryPoint


@attrs.frozen
class WidgetConfig:
    size: int = 3


def make_plugin(*names: str, kind_hook: str = "spinlock_register_samplers", fail: bool = False) -> object:
    """A namespace object implementing one registration hook that adds ``names``."""

    def register(registry: object) -> None:
        for name in names:
            registry.add(  # type: ignore[attr-defined]
                name, config_cls=WidgetConfig, factory="builtins:dict", summary=f"{name} widget"
            )
        if fail:
            raise RuntimeError("boom")

    register.__name__ = kind_hook
    return types.SimpleNamespace(**{kind_hook: hookimpl(register)})


def test_core_registers_its_samplers_directly(isolated_plugin_manager):
    specs = {spec.name: spec for spec in isolated_plugin_manager.components[ComponentKind.SAMPLER]}
    assert {"sobol", "random"} <= set(specs)
    assert specs["sobol"].distribution == "spinlock-core"
    assert specs["sobol"].plugin == "core"


def test_plugin_components_record_their_provider(fake_entry_points):
    manager = fake_entry_points(FakeEntryPoint("widgets", make_plugin("halton2"), version="1.2.3"))
    spec = manager.get("sampler", "halton2")
    assert (spec.plugin, spec.distribution, spec.version) == ("widgets", "spinlock-widgets", "1.2.3")
    assert manager.components_of("widgets") == {"sampler": ["halton2"]}


def test_import_error_is_reported_and_others_still_load(fake_entry_points):
    manager = fake_entry_points(
        FakeEntryPoint("broken", error=ModuleNotFoundError("No module named 'pywt'", name="pywt")),
        FakeEntryPoint("good", make_plugin("halton2")),
    )
    [failure] = manager.failures
    assert failure.name == "broken"
    assert failure.distribution == "spinlock-broken"
    assert "pywt" in failure.error
    assert "halton2" in manager.components["sampler"]


def test_exception_in_hook_is_isolated_and_partial_registrations_removed(fake_entry_points):
    manager = fake_entry_points(
        FakeEntryPoint("flaky", make_plugin("half_done", fail=True)),
        FakeEntryPoint("good", make_plugin("halton2")),
    )
    [failure] = manager.failures
    assert failure.name == "flaky"
    assert "RuntimeError: boom" in failure.error
    assert "spinlock_register_samplers" in failure.error
    assert "half_done" not in manager.components["sampler"]
    assert "halton2" in manager.components["sampler"]


def test_duplicate_component_names_fail_naming_both_providers(fake_entry_points):
    manager = fake_entry_points(
        FakeEntryPoint("first", make_plugin("halton2")),
        FakeEntryPoint("second", make_plugin("halton2")),
    )
    [failure] = manager.failures
    assert failure.name == "second"
    assert "'first'" in failure.error and "'second'" in failure.error
    assert manager.get("sampler", "halton2").plugin == "first"


def test_duplicate_component_name_with_core_is_refused(fake_entry_points):
    manager = fake_entry_points(FakeEntryPoint("impostor", make_plugin("sobol")))
    assert manager.get("sampler", "sobol").distribution == "spinlock-core"
    assert "registered twice" in manager.failures[0].error


def test_duplicate_plugin_names_across_distributions_load_neither(fake_entry_points):
    manager = fake_entry_points(
        FakeEntryPoint("same", make_plugin("a1"), distribution="spinlock-one"),
        FakeEntryPoint("same", make_plugin("b1"), distribution="spinlock-two"),
    )
    assert len(manager.failures) == 2
    assert all("spinlock-one" in f.error and "spinlock-two" in f.error for f in manager.failures)
    assert "a1" not in manager.components["sampler"] and "b1" not in manager.components["sampler"]


def test_strict_mode_raises_with_every_failure(fake_entry_points, monkeypatch):
    with pytest.raises(PluginLoadError, match="broken"):
        fake_entry_points(FakeEntryPoint("broken", error=ImportError("nope")), strict=True)
    monkeypatch.setenv("SPINLOCK_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError):
        build_plugin_manager(entry_points=[FakeEntryPoint("broken", error=ImportError("nope"))])


def test_non_strict_mode_warns(monkeypatch):
    monkeypatch.delenv("SPINLOCK_STRICT_PLUGINS", raising=False)
    with pytest.warns(UserWarning, match="broken"):
        build_plugin_manager(entry_points=[FakeEntryPoint("broken", error=ImportError("nope"))])


def test_disabled_plugins_are_skipped(fake_entry_points, monkeypatch):
    monkeypatch.setenv("SPINLOCK_DISABLE_PLUGINS", "widgets, other")
    manager = fake_entry_points(FakeEntryPoint("widgets", make_plugin("halton2")))
    assert manager.records["widgets"].disabled
    assert "halton2" not in manager.components["sampler"]
    assert not manager.failures


def test_unknown_hook_name_is_reported_with_suggestion(fake_entry_points):
    plugin = make_plugin("x1", kind_hook="spinlock_register_sampler")
    manager = fake_entry_points(FakeEntryPoint("typo", plugin))
    [failure] = manager.failures
    assert "spinlock_register_sampler" in failure.error
    assert "did you mean 'spinlock_register_samplers'" in failure.error


def test_hookimpl_with_wrong_arguments_is_reported(fake_entry_points):
    @hookimpl
    def spinlock_register_samplers(registry, extra):  # type: ignore[no-untyped-def]
        raise AssertionError("never called")

    manager = fake_entry_points(
        FakeEntryPoint(
            "badargs", types.SimpleNamespace(spinlock_register_samplers=spinlock_register_samplers)
        )
    )
    assert manager.failures[0].name == "badargs"


def test_register_plugin_fixture_adds_a_plugin_for_one_test(register_plugin, isolated_plugin_manager):
    manager = register_plugin(make_plugin("tmp_sampler"), name="tmp")
    assert manager.get("sampler", "tmp_sampler").plugin == "tmp"
    assert "tmp_sampler" not in isolated_plugin_manager.components["sampler"]


def test_every_kind_has_a_registration_hook(register_plugin):
    hooks = {
        "spinlock_register_operator_blocks": ComponentKind.OPERATOR_BLOCK,
        "spinlock_register_initial_conditions": ComponentKind.INITIAL_CONDITION,
        "spinlock_register_feature_families": ComponentKind.FEATURE_FAMILY,
        "spinlock_register_encoders": ComponentKind.ENCODER,
        "spinlock_register_executors": ComponentKind.EXECUTOR,
    }
    for hook, kind in hooks.items():
        manager = register_plugin(make_plugin(f"w_{kind.value}", kind_hook=hook))
        assert manager.get(kind, f"w_{kind.value}").kind is kind


def test_unknown_component_lookup_suggests_nearest(isolated_plugin_manager):
    with pytest.raises(UnknownComponentError, match="did you mean 'sobol'"):
        isolated_plugin_manager.get("sampler", "sobl")


def test_registry_rejects_bad_specs(isolated_plugin_manager):
    registry = isolated_plugin_manager.components["sampler"]
    with pytest.raises(RegistryError, match="attrs class"):
        registry.add("plain", config_cls=dict, factory="builtins:dict", summary="x")
    with pytest.raises(RegistryError, match="module:attr"):
        registry.add("nofactory", config_cls=WidgetConfig, factory="builtins.dict", summary="x")
    with pytest.raises(RegistryError, match="invalid sampler name"):
        registry.add("has space", config_cls=WidgetConfig, factory="builtins:dict", summary="x")
    with pytest.raises(DuplicateComponentError):
        registry.add("sobol", config_cls=WidgetConfig, factory="builtins:dict", summary="x")


def test_spec_builds_lazily_and_checks_config_type(isolated_plugin_manager):
    spec = isolated_plugin_manager.get("sampler", "random")
    sampler = spec.build()
    assert hasattr(sampler, "sample")
    with pytest.raises(TypeError, match="expects a RandomConfig"):
        spec.build(WidgetConfig())


def test_command_hook_failures_are_recorded(register_plugin):
    @hookimpl
    def spinlock_register_commands(app):  # type: ignore[no-untyped-def]
        raise RuntimeError("cannot add")

    manager = register_plugin(types.SimpleNamespace(spinlock_register_commands=spinlock_register_commands))
    manager.call_command_hooks(object())
    assert "cannot add" in manager.records["test-plugin"].error
