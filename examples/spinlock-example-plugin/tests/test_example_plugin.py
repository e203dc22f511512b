"""Tests of the example plugin, written as a plugin author would: only pytest and ``spinlock.core.testing``.

The fixtures (``register_plugin``, ``fake_entry_points``, ``plugin_manager``) come from spinlock-core's
pytest plugin, which pytest loads automatically once spinlock-core is installed.
"""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest
from scipy.stats import qmc

import spinlock_example_plugin.plugin as example_plugin
from spinlock.core.testing import FakeEntryPoint, check_component
from spinlock_example_plugin.halton import HaltonConfig, HaltonSampler


def halton_spec(manager):
    return manager.components["sampler"].get("halton")


def test_register_plugin_adds_halton_with_its_provider(register_plugin):
    manager = register_plugin(example_plugin, name="example")
    spec = halton_spec(manager)
    assert spec.plugin == "example"
    assert spec.kind.value == "sampler"
    assert spec.config_cls is HaltonConfig
    assert spec.factory == "spinlock_example_plugin.halton:HaltonSampler"
    # Core's own samplers are still there: a plugin adds, it does not replace.
    assert "sobol" in manager.components["sampler"]
    assert manager.records["example"].hooks == ["spinlock_register_samplers"]


def test_halton_passes_the_contract_checks(register_plugin):
    check_component(halton_spec(register_plugin(example_plugin, name="example")))


def test_loads_through_an_entry_point(fake_entry_points):
    manager = fake_entry_points(
        FakeEntryPoint("example", example_plugin, distribution="spinlock-example-plugin", version="0.0.1"),
        strict=True,
    )
    spec = halton_spec(manager)
    assert (spec.plugin, spec.distribution, spec.version) == ("example", "spinlock-example-plugin", "0.0.1")
    assert manager.records["example"].ok


def broken_neighbour():
    return FakeEntryPoint(
        "broken",
        distribution="spinlock-broken",
        error=ModuleNotFoundError("No module named 'pywt'", name="pywt"),
    )


def test_a_broken_plugin_is_reported_and_the_example_still_loads(fake_entry_points):
    manager = fake_entry_points(broken_neighbour(), FakeEntryPoint("example", example_plugin))
    [failure] = manager.failures
    assert (failure.name, failure.distribution, failure.version) == ("broken", "spinlock-broken", "0.0.1")
    assert failure.error == "ModuleNotFoundError: No module named 'pywt'"
    assert manager.records["example"].ok
    assert "halton" in manager.components["sampler"]


def test_strict_loading_names_the_broken_plugin(fake_entry_points):
    with pytest.raises(Exception, match=r"broken \(spinlock-broken 0\.0\.1\): ModuleNotFoundError"):
        fake_entry_points(broken_neighbour(), FakeEntryPoint("example", example_plugin), strict=True)


def test_the_installed_distribution_provides_halton(plugin_manager):
    """Run where the example is pip-installed (``nox -s example_plugin``): the real entry point is found."""
    spec = halton_spec(plugin_manager)
    assert spec.plugin == "example"
    assert spec.distribution == "spinlock-example-plugin"
    assert spec.version == importlib.metadata.version("spinlock-example-plugin")


@pytest.fixture
def sampler(register_plugin) -> HaltonSampler:
    sampler = halton_spec(register_plugin(example_plugin, name="example")).build(HaltonConfig())
    assert isinstance(sampler, HaltonSampler)
    return sampler


@pytest.mark.parametrize("dimension", [1, 3, 7])
def test_points_lie_in_the_half_open_unit_cube(sampler, dimension):
    points = sampler.sample(512, dimension, seed=11)
    assert points.shape == (512, dimension)
    assert points.dtype == np.float64
    assert points.min() >= 0.0
    assert points.max() < 1.0


def test_points_are_deterministic_per_seed(sampler):
    a = sampler.sample(64, 4, seed=3)
    np.testing.assert_array_equal(a, sampler.sample(64, 4, seed=3))
    assert not np.array_equal(a, sampler.sample(64, 4, seed=4))


def test_start_slices_the_same_sequence(sampler):
    whole = sampler.sample(100, 5, seed=7)
    np.testing.assert_array_equal(sampler.sample(40, 5, seed=7, start=60), whole[60:])
    np.testing.assert_array_equal(sampler.sample(0, 5, seed=7, start=10), whole[:0])
    shards = [sampler.sample(25, 5, seed=7, start=k) for k in range(0, 100, 25)]
    np.testing.assert_array_equal(np.concatenate(shards), whole)


def test_unscrambled_sequence_is_the_textbook_halton_sequence():
    points = HaltonSampler(HaltonConfig(scramble=False)).sample(4, 2, seed=0)
    # Radical inverses in bases 2 and 3 of 0, 1, 2, 3.
    np.testing.assert_allclose(points, [[0, 0], [1 / 2, 1 / 3], [1 / 4, 2 / 3], [3 / 4, 1 / 9]])


def test_lower_discrepancy_than_independent_uniform_points(sampler):
    n, d = 256, 3
    halton = [qmc.discrepancy(sampler.sample(n, d, seed=s)) for s in range(5)]
    uniform = [qmc.discrepancy(np.random.default_rng(s).random((n, d))) for s in range(5)]
    assert max(halton) < min(uniform)
    assert np.mean(halton) < 0.25 * np.mean(uniform)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": -1, "dimension": 2, "seed": 0}, "n must be"),
        ({"n": 4, "dimension": 0, "seed": 0}, "dimension must be"),
        ({"n": 4, "dimension": 2, "seed": 0, "start": -3}, "start must be"),
    ],
)
def test_bad_arguments_are_rejected(sampler, kwargs, message):
    with pytest.raises(ValueError, match=message):
        sampler.sample(**kwargs)
