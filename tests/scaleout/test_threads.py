"""The thread count is part of the compute plan: recorded, applied and restored, and checked on resume."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from spinlock.core.storage import DatasetError, open_dataset
from spinlock.operators.generation.pipeline import ComputePlan, compute_threads, plans_agree, replay_operators


def test_the_default_is_the_current_thread_count_and_it_is_recorded(tiny, tiny_config, tmp_path):
    assert ComputePlan().threads == torch.get_num_threads()
    with pytest.raises(ValueError, match="'threads' must be >= 1"):
        ComputePlan(threads=0)
    tiny.generate(tiny_config, tmp_path / "d.h5", plan=ComputePlan(batch_size=4, threads=1))
    with open_dataset(tmp_path / "d.h5") as d:
        assert d.compute_plan == {"batch_size": 4, "device": "cpu", "precision": "float32", "threads": 1}


def test_compute_threads_sets_and_restores_the_count():
    before = torch.get_num_threads()
    other = 2 if before != 2 else 1
    with compute_threads(ComputePlan(threads=other)):
        assert torch.get_num_threads() == other
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), compute_threads(ComputePlan(threads=other)):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with compute_threads(ComputePlan(threads=other, device="cuda")):  # GPU plans leave the count alone
        assert torch.get_num_threads() == before


def test_generation_runs_under_the_plan_threads_and_restores_them(tiny, tiny_config, tmp_path, monkeypatch):
    from spinlock.operators.generation import pipeline

    seen = []
    original = pipeline._compute_batch

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(pipeline, "_compute_batch", spy)
    before = torch.get_num_threads()
    other = 2 if before != 2 else 1
    tiny.generate(tiny_config, tmp_path / "d.h5", plan=ComputePlan(batch_size=8, threads=other))
    assert seen and set(seen) == {other}
    assert torch.get_num_threads() == before
    seen.clear()
    replay_operators(tmp_path / "d.h5", [0], tiny.manager)
    assert seen == [other]  # replay uses the stored plan's count


def test_plans_agree_ignores_threads_only_where_unknown_or_irrelevant():
    plan = ComputePlan(batch_size=2, threads=1)
    stored = plan.to_dict()
    assert plans_agree(stored, plan)
    assert not plans_agree({**stored, "threads": 2}, plan)
    assert plans_agree({k: v for k, v in stored.items() if k != "threads"}, plan)  # an older file
    assert not plans_agree({**stored, "batch_size": 3}, plan)
    gpu = ComputePlan(batch_size=2, device="cuda", threads=1)
    assert plans_agree({**gpu.to_dict(), "threads": 8}, gpu)


def test_resume_refuses_another_thread_count_but_accepts_an_older_file(tiny, tiny_config, tmp_path):
    path = tmp_path / "d.h5"
    tiny.generate(tiny_config, path)  # threads=1
    with pytest.raises(DatasetError, match=r"compute plan .*--threads"):
        tiny.generate(tiny_config, path, resume=True, plan=ComputePlan(batch_size=2, threads=2))
    with open_dataset(path) as d:
        stored = d.trajectories([5])[0]
        pending = np.flatnonzero(d.done())[-2:]
    # a file from before `threads` was recorded, with two samples left to do
    with h5py.File(path, "r+") as f:
        f.attrs["compute_plan"] = json.dumps({"batch_size": 2, "device": "cpu", "precision": "float32"})
        f["progress/done"][pending] = False
    summary = tiny.generate(tiny_config, path, resume=True, plan=ComputePlan(batch_size=2, threads=1))
    assert summary.operators_written == 2
    with open_dataset(path) as d:
        assert d.done().all() and "threads" not in d.compute_plan
    # a plan without `threads` replays with the process's own count: here the count the file was made with
    with compute_threads(ComputePlan(threads=1)):
        replayed = replay_operators(path, [5], tiny.manager)[5]["trajectories"]
    assert np.array_equal(replayed, stored)
