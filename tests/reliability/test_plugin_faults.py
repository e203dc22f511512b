"""Broken plugins are reported by name, distribution and error; the rest keep working.

tests/core/test_plugins.py covers the loader's isolation one fault at a time (import errors, exceptions in
hooks, duplicate names, unknown hooks, strict mode). This module adds what it does not: a plugin made for
another spinlock-core, a component whose factory fails only when it is used, and every fault at once
through the real entry-point machinery and the command line (``list-plugins`` and a warning elsewhere,
``SPINLOCK_STRICT_PLUGINS=1`` turning them into errors).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import attrs
import pytest

from spinlock.core import __version__ as core_version, hookimpl
from spinlock.core.compat import core_requirement_problem
from spinlock.core.plugins import PluginLoadError, build_plugin_manager
from spinlock.core.registry import ComponentLoadError
from spinlock.core.testing import FakeEntryPoint


@attrs.frozen
class GadgetConfig:
    size: int = 3


def sampler_plugin(name: str, factory: str = "spinlock.core.sampling.random:RandomSampler") -> object:
    @hookimpl
    def spinlock_register_samplers(registry: Any) -> None:
        registry.add(name, config_cls=GadgetConfig, factory=factory, summary=f"{name} sampler")

    return types.SimpleNamespace(spinlock_register_samplers=spinlock_register_samplers)


# -- a plugin made for another core ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requires", "compatible"),
    [
        ((), True),
        (("numpy>=1",), True),
        ((f"spinlock-core=={core_version}",), True),
        (("spinlock-core>=0.1.0,<99",), True),
        (("spinlock_core>=99",), False),  # names are compared canonically
        (("spinlock-core<0.0.1",), False),
        (('spinlock-core>=99; extra == "docs"',), True),  # only for an extra that was not asked for
        (("spinlock-core>=99; python_version < '3'",), True),
        (("not a requirement at all ((",), True),
    ],
)
def test_core_requirement_check(requires: tuple[str, ...], compatible: bool) -> None:
    problem = core_requirement_problem(requires, core_version)
    assert (problem is None) is compatible, problem
    if problem is not None:
        assert f"spinlock-core {core_version} is installed" in problem


def test_plugin_for_another_core_is_reported_and_never_imported(fake_entry_points: Any) -> None:
    manager = fake_entry_points(
        FakeEntryPoint(
            "future",
            error=AssertionError("the plugin module was imported"),
            version="2.0.0",
            requires=("numpy>=1.24", "spinlock-core>=99.0"),
        ),
        FakeEntryPoint("good", sampler_plugin("halton3"), requires=("spinlock-core>=0.1.0",)),
    )
    [failure] = manager.failures
    assert (failure.name, failure.distribution, failure.version) == ("future", "spinlock-future", "2.0.0")
    assert "requires spinlock-core>=99.0" in failure.error and "imported" not in failure.error
    assert "halton3" in manager.components["sampler"]


def test_strict_mode_refuses_a_plugin_for_another_core(fake_entry_points: Any) -> None:
    with pytest.raises(
        PluginLoadError, match=r"future \(spinlock-future 0.0.1\): requires spinlock-core<0.1"
    ):
        fake_entry_points(
            FakeEntryPoint("future", sampler_plugin("x9"), requires=("spinlock-core<0.1",)), strict=True
        )


# -- a component whose factory fails when it is used ----------------------------------------------------


def test_factory_failing_at_use_names_component_plugin_and_distribution(fake_entry_points: Any) -> None:
    manager = fake_entry_points(
        FakeEntryPoint(
            "lazy", sampler_plugin("ghost", factory="spinlock_no_such_module_xyz:Ghost"), version="1.0"
        ),
        FakeEntryPoint("typo", sampler_plugin("typo_sampler", factory="spinlock.core.sampling.random:Nope")),
    )
    assert not manager.failures, "registration is lazy: nothing is imported yet"
    with pytest.raises(ComponentLoadError) as info:
        manager.get("sampler", "ghost").build()
    message = str(info.value)
    for fragment in ("sampler 'ghost'", "plugin 'lazy'", "spinlock-lazy 1.0", "spinlock_no_such_module_xyz"):
        assert fragment in message, message
    with pytest.raises(ComponentLoadError, match=r"typo_sampler.*AttributeError.*Nope"):
        manager.get("sampler", "typo_sampler").load()
    assert manager.get("sampler", "sobol").build() is not None, "the other components still work"


def test_cli_command_using_a_broken_factory_exits_2(
    cli: Any, clean_failure: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spinlock.core.cli import plugin_commands

    manager = build_plugin_manager(
        load_entry_points=False,
        extra_plugins=[("lazy", sampler_plugin("ghost", factory="spinlock_no_such_module_xyz:Ghost"))],
        strict=True,
    )
    monkeypatch.setattr(plugin_commands, "cli_plugin_manager", lambda: manager)
    config = tmp_path / "run.yaml"
    config.write_text("sampling: {kind: ghost}\nparameter_space: {k: {type: integer, low: 1, high: 4}}\n")
    clean_failure(cli("sample", config), "sampler 'ghost' of plugin 'lazy'", "spinlock_no_such_module_xyz")


# -- every fault at once, through real entry points and the command line --------------------------------

PLUGIN_MODULES = {
    "rel_good_plugin": """
        import attrs
        from spinlock.core import hookimpl

        @attrs.frozen
        class Config:
            n: int = 1

        @hookimpl
        def spinlock_register_samplers(registry):
            registry.add("rel_good", config_cls=Config, factory="rel_good_plugin:Config", summary="fine")
    """,
    "rel_raising_plugin": """
        from spinlock.core import hookimpl

        @hookimpl
        def spinlock_register_samplers(registry):
            raise RuntimeError("hook exploded")
    """,
    "rel_duplicate_plugin": """
        import attrs
        from spinlock.core import hookimpl

        @attrs.frozen
        class Config:
            n: int = 1

        @hookimpl
        def spinlock_register_samplers(registry):
            registry.add("sobol", config_cls=Config, factory="rel_duplicate_plugin:Config", summary="clash")
    """,
    "rel_future_plugin": """
        raise AssertionError("a plugin for another core must not be imported")
    """,
}

#: entry-point name → (module, distribution, Requires-Dist lines, fragment of the reported error)
DISTRIBUTIONS = {
    "rel-good": ("rel_good_plugin", "rel-good", [], None),
    "rel-missing": ("rel_missing_module_xyz", "rel-missing", [], "rel_missing_module_xyz"),
    "rel-raising": ("rel_raising_plugin", "rel-raising", [], "RuntimeError: hook exploded"),
    "rel-duplicate": ("rel_duplicate_plugin", "rel-duplicate", [], "registered twice"),
    "rel-future": ("rel_future_plugin", "rel-future", ["spinlock-core>=99"], "requires spinlock-core>=99"),
}


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of installed-looking distributions (``*.dist-info``) and their modules, for PYTHONPATH."""
    root = tmp_path_factory.mktemp("site")
    for module, source in PLUGIN_MODULES.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    for entry, (module, dist, requires, _) in DISTRIBUTIONS.items():
        info = root / f"{dist.replace('-', '_')}-0.3.dist-info"
        info.mkdir()
        metadata = ["Metadata-Version: 2.1", f"Name: {dist}", "Version: 0.3"]
        metadata += [f"Requires-Dist: {line}" for line in requires]
        (info / "METADATA").write_text("\n".join(metadata) + "\n")
        (info / "entry_points.txt").write_text(f"[spinlock]\n{entry} = {module}\n")
    return root


def run_spinlock(plugin_path: Path, *args: str, strict: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(plugin_path), "COLUMNS": "400"}  # no wrapping by rich
    env.pop("SPINLOCK_STRICT_PLUGINS", None)
    if strict:
        env["SPINLOCK_STRICT_PLUGINS"] = "1"
    return subprocess.run(
        [sys.executable, "-c", "from spinlock.core.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def test_list_plugins_reports_each_broken_plugin_and_lists_the_rest(plugin_path: Path) -> None:
    result = run_spinlock(plugin_path, "list-plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    for entry, (_, dist, _, fragment) in DISTRIBUTIONS.items():
        row = rows[entry]
        assert (row["distribution"], row["version"]) == (dist, "0.3")
        if fragment is None:
            assert row["error"] is None and row["components"] == {"sampler": ["rel_good"]}
        else:
            assert fragment in row["error"], row
    assert rows["core"]["error"] is None and "sobol" in rows["core"]["components"]["sampler"]

    table = run_spinlock(plugin_path, "list-plugins")
    assert table.returncode == 0
    assert "4 plugin(s) failed to load" in table.stderr
    for entry, (_, dist, _, fragment) in DISTRIBUTIONS.items():
        if fragment is not None:
            assert f"{entry} ({dist} 0.3): " in table.stderr and fragment in table.stderr


def test_other_commands_warn_and_keep_working(plugin_path: Path, tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("sampling: {kind: rel_good}\n")
    result = run_spinlock(plugin_path, "validate-config", str(config))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: spinlock plugin")]
    assert len(warnings) == 4, result.stderr
    assert any(
        "rel-future (rel-future 0.3)" in line and "requires spinlock-core>=99" in line for line in warnings
    )


def test_strict_env_turns_broken_plugins_into_errors(plugin_path: Path, tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("seed: 1\n")
    result = run_spinlock(plugin_path, "validate-config", str(config), strict=True)
    assert result.returncode == 2, result.stderr
    assert "4 plugin(s) failed to load" in result.stderr and "Traceback" not in result.stderr
    listing = run_spinlock(plugin_path, "list-plugins", "--json", strict=True)
    assert listing.returncode == 1, "list-plugins still lists, then fails"
    assert {row["name"] for row in json.loads(listing.stdout)} >= set(DISTRIBUTIONS)
