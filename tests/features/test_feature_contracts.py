"""Every registered feature family passes the generic and the feature-family contract checks."""

from __future__ import annotations

import pytest

from spinlock.core.plugins import build_plugin_manager
from spinlock.core.testing import check_component

FAMILIES = list(build_plugin_manager(strict=True).components["feature_family"])


def test_first_party_families_are_registered() -> None:
    names = {spec.name for spec in FAMILIES}
    assert {"initial", "architecture", "summary", "temporal"} <= names


@pytest.mark.parametrize("spec", FAMILIES, ids=lambda spec: spec.name)
def test_contract(spec) -> None:
    check_component(spec)


@pytest.mark.parametrize("spec", FAMILIES, ids=lambda spec: spec.name)
def test_metadata_declares_inputs_and_version(spec) -> None:
    family = spec.build()
    if "inputs" in spec.metadata:
        assert set(spec.metadata["inputs"]) == set(family.inputs)
    if "version" in spec.metadata:
        assert spec.metadata["version"] == family.version
