"""`spinlock generate --shard/--shards/--executor/--threads` and `spinlock merge`: results and bad input."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from spinlock.core.cli import build_app
from spinlock.core.testing import assert_datasets_identical
from spinlock.operators.generation.plan import Shard
from spinlock.operators.generation.shards import ShardTask, shard_directory, shard_path

PLAN_ARGS = ("--batch-size", "2", "--threads", "1", "-q")


@pytest.fixture(scope="module")
def cli():
    app, runner = build_app(), CliRunner()

    def invoke(*args: object):
        return runner.invoke(app, [str(arg) for arg in args])

    return invoke


def test_job_array_shards_merge_to_the_single_process_dataset(cli, tiny_config, reference, tmp_path):
    for i in range(2):
        result = cli(
            "generate", "-c", tiny_config, "-o", tmp_path / f"s{i}.h5", "--shard", f"{i}/2", *PLAN_ARGS
        )
        assert result.exit_code == 0, result.output
    merged = cli("merge", tmp_path / "s1.h5", tmp_path / "s0.h5", "-o", tmp_path / "m.h5", "--json")
    assert merged.exit_code == 0, merged.output
    assert '"shards": 2' in merged.stdout
    assert_datasets_identical(reference, tmp_path / "m.h5")

    exists = cli("merge", tmp_path / "s0.h5", tmp_path / "s1.h5", "-o", tmp_path / "m.h5")
    assert exists.exit_code == 2 and "already exists; pass --overwrite" in exists.stderr
    missing = cli("merge", tmp_path / "s0.h5", "-o", tmp_path / "m2.h5")
    assert missing.exit_code == 2 and "samples are done in no shard" in missing.stderr
    assert "shards not given: 1/2" in missing.stderr and "Traceback" not in missing.output
    other = cli(
        "generate", "-c", tiny_config, "-o", tmp_path / "o1.h5", "--shard", "1/2", "--seed", "9", *PLAN_ARGS
    )
    assert other.exit_code == 0, other.output
    mixed = cli("merge", tmp_path / "s0.h5", tmp_path / "o1.h5", "-o", tmp_path / "m3.h5")
    assert mixed.exit_code == 2 and "different configs" in mixed.stderr
    assert not (tmp_path / "m2.h5").exists() and not (tmp_path / "m3.h5").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--shard", "3/2"), "shard 3/2 does not exist"),
        (("--shard", "two"), "a shard is written I/N"),
        (("--shard", "0/2", "--executor", "dask"), "does not combine with --executor"),
        (("--shard", "0/2", "--shards", "2"), "does not combine with --shards"),
        (("--executor", "dsk"), "unknown executor 'dsk' (did you mean 'dask'?)"),
        (("--executor", "local", "--workers", "2"), "--scheduler/--workers configure the dask executor"),
    ],
)
def test_bad_scale_out_options_exit_2(cli, tiny_config, tmp_path, args, message):
    result = cli("generate", "-c", tiny_config, "-o", tmp_path / "x.h5", "-q", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "x.h5").exists()


def test_local_executor_with_shards_equals_one_piece(cli, tiny_config, reference, tmp_path):
    out = tmp_path / "d.h5"
    result = cli("generate", "-c", tiny_config, "-o", out, "--executor", "local", "--shards", "3", *PLAN_ARGS)
    assert result.exit_code == 0, result.output
    assert_datasets_identical(reference, out)
    assert not shard_directory(out).exists()
    again = cli("generate", "-c", tiny_config, "-o", out, "--shards", "3", "--executor", "local", *PLAN_ARGS)
    assert again.exit_code == 2 and "already exists" in again.stderr


def test_an_interrupted_sharded_run_resumes(cli, tiny, tiny_config, reference, tmp_path):
    out = tmp_path / "d.h5"
    _, text = tiny.load(tiny_config)
    directory = shard_directory(out)
    directory.mkdir()
    ShardTask(text, str(shard_path(directory, Shard(1, 3))), Shard(1, 3), tiny.plan)()  # one shard finished
    refused = cli(
        "generate", "-c", tiny_config, "-o", out, "--executor", "local", "--shards", "3", *PLAN_ARGS
    )
    assert refused.exit_code == 2 and "pass --resume to finish it" in refused.stderr
    wrong = cli("generate", "-o", out, "--executor", "local", "--shards", "2", "--resume", *PLAN_ARGS)
    assert wrong.exit_code == 2 and "resume it with --shards 3" in wrong.stderr
    # no --config, no --shards, no --threads: all come from the shard files
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        resumed = cli("generate", "-o", out, "--executor", "local", "--resume", "--batch-size", "2", "-q")
    finally:
        torch.set_num_threads(before)
    assert resumed.exit_code == 0, resumed.output
    assert_datasets_identical(reference, out)


def test_resume_uses_the_stored_thread_count(cli, tiny_config, reference, tmp_path):
    out = tmp_path / "d.h5"
    assert cli("generate", "-c", tiny_config, "-o", out, *PLAN_ARGS).exit_code == 0
    with h5py.File(out, "r+") as f:
        f["progress/done"][np.arange(4)] = False
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # the stored plan says 1: --resume must use that, not the current count
    try:
        result = cli("generate", "-o", out, "--resume", "--batch-size", "2", "-q")
        refused = cli("generate", "-o", out, "--resume", "--batch-size", "2", "--threads", "2", "-q")
    finally:
        torch.set_num_threads(before)
    assert result.exit_code == 0, result.output
    assert refused.exit_code == 2 and "--threads" in refused.stderr
    assert_datasets_identical(reference, out)
