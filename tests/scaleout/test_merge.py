"""Shards (`generate(shard=...)`) and `merge_shards`: the merge equals a single-process run, bit for bit, and
shards that do not make one dataset are refused without writing anything."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from spinlock.core.storage import DatasetError, MergeError, merge_shards, open_dataset, validate_dataset
from spinlock.core.testing import assert_datasets_identical
from spinlock.operators.generation.pipeline import ComputePlan, replay_operators
from spinlock.operators.generation.plan import Shard, make_batches, operator_settings, shard_batches


def make_shards(tiny, config_path, directory, count, **kwargs):
    paths = []
    for i in range(count):
        path = directory / f"shard-{i}.h5"
        tiny.generate(config_path, path, shard=Shard(i, count), **kwargs)
        paths.append(path)
    return paths


@pytest.mark.parametrize("count", [1, 3])
def test_merged_shards_equal_the_single_process_dataset(tiny, tiny_config, reference, tmp_path, count):
    shards = make_shards(tiny, tiny_config, tmp_path, count)
    with open_dataset(shards[0]) as first:
        assert first.shard is not None and first.shard["count"] == count
        assert 0 < first.done().sum() <= 16  # only its own samples
    summary = merge_shards(shards[::-1], tmp_path / "merged.h5")  # any order
    assert summary.n_operators == 16 and summary.shards == count and summary.overlapping == 0
    assert_datasets_identical(reference, tmp_path / "merged.h5")
    assert validate_dataset(tmp_path / "merged.h5") == []
    with open_dataset(tmp_path / "merged.h5") as merged:
        assert merged.shard is None  # the shard mark is dropped
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*(s.name for s in shards), "merged.h5"])


def test_merge_with_inline_features_equals_the_single_process_dataset(tiny, tmp_path):
    config_path = tiny.write(tmp_path, tiny.with_features)
    tiny.generate(config_path, tmp_path / "single.h5")
    shards = make_shards(tiny, config_path, tmp_path, 2)
    merge_shards(shards, tmp_path / "merged.h5", block_bytes=1)  # one row at a time: the streaming path
    with open_dataset(tmp_path / "merged.h5") as merged:
        assert set(merged.feature_families()) == {"initial", "architecture", "summary", "temporal"}
    assert_datasets_identical(tmp_path / "single.h5", tmp_path / "merged.h5")


def test_shards_are_contiguous_slices_of_the_batch_list(tiny, tiny_config):
    config, _ = tiny.load(tiny_config)
    from spinlock.core.sampling.draw import draw_parameters
    from spinlock.operators.generation.pipeline import _architecture

    _, arch_config, signature_of = _architecture(tiny.manager, config)
    draw = draw_parameters(config, tiny.manager.components)
    batches = make_batches(operator_settings(config, arch_config, signature_of, draw), 2)
    for count in (1, 2, 3, 8, 11):
        parts = [shard_batches(batches, Shard(i, count)) for i in range(count)]
        assert [b for part in parts for b in part] == batches  # in order, each batch once
        sizes = [sum(len(b.operators) for b in part) for part in parts]
        assert sum(sizes) == 16
        if count <= len(batches):
            assert max(sizes) - min(sizes) <= 2  # balanced to within one batch
    first = shard_batches(batches, Shard(0, 2))
    indices = sorted(i for b in first for i in b.indices)
    assert indices != list(range(len(indices)))  # grouped by architecture: not a contiguous index range


@pytest.mark.parametrize(("text", "message"), [("3/2", "does not exist"), ("1", "I/N"), ("-1/2", "I/N")])
def test_bad_shard_specs_are_refused(text, message):
    from spinlock.operators.generation.plan import PlanError

    with pytest.raises(PlanError, match=message):
        Shard.parse(text)


def test_missing_samples_are_listed_and_nothing_is_written(tiny, tiny_config, tmp_path):
    shards = make_shards(tiny, tiny_config, tmp_path, 3)
    with open_dataset(shards[1]) as second:
        missing = np.flatnonzero(second.done())
    with pytest.raises(MergeError) as caught:
        merge_shards([shards[0], shards[2]], tmp_path / "merged.h5")
    message = str(caught.value)
    assert f"{missing.size} of 16 samples are done in no shard" in message
    assert str(int(missing[0])) in message and "shards not given: 1/3" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(s.name for s in shards)  # no output, no temp


def test_an_unfinished_shard_is_named_with_the_command_that_finishes_it(tiny, tiny_config, tmp_path):
    shards = make_shards(tiny, tiny_config, tmp_path, 2)
    with h5py.File(shards[1], "r+") as f:
        f["progress/done"][np.flatnonzero(f["progress/done"][...])[0]] = False
    with pytest.raises(MergeError, match=r"shard 1/2\) has \d+ of its \d+ samples done.*--shard 1/2"):
        merge_shards(shards, tmp_path / "merged.h5")


def test_shards_of_different_runs_are_refused(tiny, tiny_config, tmp_path):
    for name in "abc":
        (tmp_path / name).mkdir()
    ours = tmp_path / "a" / "ours.h5"
    tiny.generate(tiny_config, ours, shard=Shard(0, 2))
    other_seed = tiny.write(tmp_path, tiny.text.replace("seed: 5", "seed: 6"), "seed6.yaml")
    theirs = tmp_path / "b" / "theirs.h5"
    tiny.generate(other_seed, theirs, shard=Shard(1, 2))
    with pytest.raises(MergeError, match=r"different configs:[\s\S]*-seed: 5[\s\S]*\+seed: 6"):
        merge_shards([ours, theirs], tmp_path / "merged.h5")
    other_plan = tmp_path / "c" / "other_plan.h5"
    tiny.generate(tiny_config, other_plan, shard=Shard(1, 2), plan=ComputePlan(batch_size=2, threads=2))
    with pytest.raises(MergeError, match="different compute plans"):
        merge_shards([ours, other_plan], tmp_path / "merged.h5")
    assert not (tmp_path / "merged.h5").exists()


def test_feature_declarations_must_agree(tiny, tiny_config, tmp_path):
    shards = make_shards(tiny, tiny_config, tmp_path, 2)
    with h5py.File(shards[1], "r+") as f:
        f.create_dataset("features/extra/values", shape=(16, 2), dtype=np.float32)
    with pytest.raises(MergeError, match="features/extra/values only in"):
        merge_shards(shards, tmp_path / "merged.h5")


def test_overlapping_samples_must_agree(tiny, tiny_config, reference, tmp_path):
    shards = make_shards(tiny, tiny_config, tmp_path, 2)
    summary = merge_shards([reference, shards[1]], tmp_path / "merged.h5")  # every sample of shard 1 twice
    with open_dataset(shards[1]) as second:
        assert summary.overlapping == int(second.done().sum())
    assert_datasets_identical(reference, tmp_path / "merged.h5")

    with h5py.File(shards[1], "r+") as f:
        row = int(np.flatnonzero(f["progress/done"][...])[0])
        f["trajectories/fields"][row, 0, 1, 0, 0, 0] += 1.0
    with pytest.raises(
        MergeError, match=rf"samples {row} are done in both .* different /trajectories/fields"
    ):
        merge_shards([reference, shards[1]], tmp_path / "again.h5")
    assert not (tmp_path / "again.h5").exists()


def test_existing_output_and_repeated_paths_are_refused(tiny, tiny_config, reference, tmp_path):
    shards = make_shards(tiny, tiny_config, tmp_path, 2)
    out = tmp_path / "merged.h5"
    out.write_bytes(b"keep me")
    with pytest.raises(DatasetError, match="already exists; pass --overwrite"):
        merge_shards(shards, out)
    assert out.read_bytes() == b"keep me"
    merge_shards(shards, out, overwrite=True)
    assert_datasets_identical(reference, out)
    with pytest.raises(MergeError, match="given twice"):
        merge_shards([shards[0], shards[0]], tmp_path / "x.h5")
    with pytest.raises(MergeError, match="is one of the shard files"):
        merge_shards(shards, shards[0], overwrite=True)
    with pytest.raises(MergeError, match="no shard files"):
        merge_shards([], tmp_path / "x.h5")


def test_a_shard_resumes_itself_and_refuses_to_be_another(tiny, tiny_config, reference, tmp_path):
    path = tmp_path / "shard.h5"
    tiny.generate(tiny_config, path, shard=Shard(0, 2))
    again = tiny.generate(tiny_config, path, shard=Shard(0, 2), resume=True)
    assert again.operators_written == 0 and again.batches_run == 0
    with pytest.raises(DatasetError, match="is shard 0/2, not shard 1/2"):
        tiny.generate(tiny_config, path, shard=Shard(1, 2), resume=True)
    with pytest.raises(DatasetError, match="resume it with --shard 0/2"):
        tiny.generate(tiny_config, path, resume=True)
    with pytest.raises(DatasetError, match="is a whole-run dataset, not shard 0/2"):
        tiny.generate(tiny_config, reference, shard=Shard(0, 2), resume=True)
    # an operator of a shard file replays bit for bit, like one of a whole-run file
    with open_dataset(path) as shard:
        index = int(np.flatnonzero(shard.done())[0])
        stored = shard.trajectories([index])[0]
    assert np.array_equal(replay_operators(path, [index], tiny.manager)[index]["trajectories"], stored)


def test_assert_datasets_identical_reports_differences(tiny, tiny_config, reference, tmp_path):
    copy = tmp_path / "copy.h5"
    shutil.copy(reference, copy)
    assert_datasets_identical(reference, copy)
    with h5py.File(copy, "r+") as f:
        f["rollout/diverged_step"][3] = 2
        f["parameters/unit"].attrs["names"] = '["x"]'
        f.attrs["seed"] = np.int32(5)  # same value, another dtype
    with pytest.raises(AssertionError) as caught:
        assert_datasets_identical(reference, copy)
    text = str(caught.value)
    assert "/rollout/diverged_step: values differ in 1 rows, first [3]" in text
    assert "/parameters/unit@names" in text and "/@seed" in text
