"""Every registered initial-condition type passes the IC contract (through the installed plugin manager)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from spinlock.core.plugins import build_plugin_manager
from spinlock.core.registry import ComponentKind
from spinlock.core.testing import check_component, check_initial_condition
from spinlock.core.testing.contracts import checks_for
from spinlock.operators.plugin import INITIAL_CONDITIONS, TIER_NAMES

NAMES = [entry[0] for entry in INITIAL_CONDITIONS]


@pytest.fixture(scope="module")
def registry():
    return build_plugin_manager(strict=True).components[ComponentKind.INITIAL_CONDITION]


def test_all_28_registered_in_five_tiers(registry) -> None:
    assert len(NAMES) == 28
    assert set(NAMES) <= set(registry.names())
    per_tier = [0] * 5
    for name in NAMES:
        spec = registry.get(name)
        assert spec.metadata["tier_name"] == TIER_NAMES[spec.metadata["tier"]]
        per_tier[spec.metadata["tier"]] += 1
    assert per_tier == [7, 5, 5, 5, 6]


def test_check_is_registered_for_the_kind() -> None:
    assert check_initial_condition in checks_for(ComponentKind.INITIAL_CONDITION)


@pytest.mark.parametrize("name", NAMES)
def test_contract(registry, name: str) -> None:
    check_component(registry.get(name))


@pytest.mark.parametrize("name", NAMES)
def test_five_channels_all_meaningful(registry, name: str) -> None:
    """BUG-17: with C = 5 no channel is constant and no channel copies another."""
    fields = registry.get(name).build()([1, 2], channels=5, height=32, width=32)
    assert fields.shape == (2, 5, 32, 32)
    assert bool((fields.std(dim=(-2, -1)) > 0).all())
    for i in range(5):
        for j in range(i):
            assert not torch.equal(fields[:, i], fields[:, j]), f"channel {i} copies channel {j}"


def test_plugin_module_imports_no_torch() -> None:
    code = "import sys, spinlock.operators.plugin; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_contract_catches_a_batch_dependent_generator() -> None:
    """The check really detects a generator whose samples depend on the batch."""
    from types import SimpleNamespace

    from spinlock.core.testing.contracts import ContractViolation

    fake = SimpleNamespace(
        name="broken",
        kind=ComponentKind.INITIAL_CONDITION,
        distribution="tests",
        build=lambda config=None: BatchDependent(config),
    )
    with pytest.raises(ContractViolation, match="batch independent"):
        check_initial_condition(fake)


class BatchDependent:
    """A broken generator: one generator for the whole batch."""

    def __init__(self, config: object) -> None:
        self.config = config

    def __call__(self, seeds, *, channels, height, width, device="cpu"):
        g = torch.Generator().manual_seed(int(seeds[0]))
        return torch.randn(len(seeds), channels, height, width, generator=g)
