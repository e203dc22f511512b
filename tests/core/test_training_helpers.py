"""Shared training helpers: epoch seeds, schedule, split and safe checkpoint payloads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from spinlock.core.training import (
    CheckpointError,
    cosine_learning_rate,
    epoch_seed,
    load_payload,
    save_payload,
    seeded_split,
)


def test_epoch_seeds_depend_on_seed_and_epoch_only() -> None:
    assert epoch_seed(0, 3) == epoch_seed(0, 3)
    assert len({epoch_seed(0, e) for e in range(50)} | {epoch_seed(1, 0)}) == 51


def test_cosine_schedule_endpoints() -> None:
    assert cosine_learning_rate(1e-3, 0.1, 0, 10) == pytest.approx(1e-3)
    assert cosine_learning_rate(1e-3, 0.1, 9, 10) == pytest.approx(1e-4)
    assert cosine_learning_rate(1e-3, 0.1, 0, 1) == pytest.approx(1e-3)


def test_seeded_split_partitions_and_refuses_too_few() -> None:
    train, val = seeded_split(20, 0.25, seed=4)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(20)) and len(val) == 5
    np.testing.assert_array_equal(seeded_split(20, 0.25, seed=4)[1], val)
    with pytest.raises(ValueError, match="too few"):
        seeded_split(2, 0.5, seed=0, min_train=2)


def test_payload_round_trip_and_refusals(tmp_path: Path) -> None:
    path = tmp_path / "c.pt"
    save_payload(path, {"w": torch.ones(2), "note": "x"}, format_name="fmt", format_version=2)
    data = load_payload(path, format_name="fmt", format_version=2, what="test", hint="make one")
    assert data["note"] == "x" and torch.equal(data["w"], torch.ones(2))
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed away
    with pytest.raises(CheckpointError, match="newer"):
        load_payload(path, format_name="fmt", format_version=1, what="test", hint="make one")
    with pytest.raises(CheckpointError, match="not a other checkpoint"):
        load_payload(path, format_name="other", format_version=2, what="other", hint="make one")
    with pytest.raises(CheckpointError, match="make one"):
        load_payload(
            tmp_path / "missing.pt", format_name="fmt", format_version=2, what="test", hint="make one"
        )
