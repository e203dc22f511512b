"""Issue 10 (3): `spinlock generate` killed, interrupted or out of disk always leaves a resumable file, and the
resumed dataset is identical (every dataset's bytes, every attribute) to an uninterrupted run.

Runs go through the real CLI in forked children of a pre-imported interpreter (``_generate.GenerateServer``)
so that many kills fit in the default run; one test kills a freshly started ``spinlock generate`` process too.
Every process runs with one CPU thread and the same compute plan (``--batch-size 2``).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spinlock.core.storage import validate_dataset
from spinlock.core.storage._space import HEADROOM_BYTES
from spinlock.core.testing import assert_datasets_identical

from ._generate import CRASH_CONFIG, PLAN_ARGS, GenerateServer, child_env, run_cli, stray_files

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fork, SIGKILL and RLIMIT_FSIZE are POSIX")

SEED = 20261126


class Setup:
    """The shared pieces: server, config, reference dataset and how long a forked generation takes."""

    def __init__(self, root: Path, server: GenerateServer, config: Path, reference: Path, seconds: float):
        self.root = root
        self.server = server
        self.config = config
        self.reference = reference
        self.seconds = seconds
        self._count = 0

    def fresh_dir(self, label: str) -> Path:
        self._count += 1
        path = self.root / f"{self._count:03d}-{label}"
        path.mkdir()
        return path

    def argv(self, out: Path, *extra: str) -> list[str]:
        return ["generate", "-c", str(self.config), "-o", str(out), *PLAN_ARGS, *extra]

    def resume_and_check(self, out: Path) -> None:
        """``--resume`` must finish ``out`` into a valid dataset identical to the reference, leaving no litter."""
        resumed = self.server.run(self.argv(out, "--resume"))
        assert resumed.returncode == 0, resumed.stderr
        checked = self.server.run(["validate", str(out)])
        assert checked.returncode == 0 and checked.stdout.strip() == "ok", checked.stdout + checked.stderr
        assert_datasets_identical(out, self.reference)
        assert stray_files(out.parent, [out]) == []


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("crashes")
    config = root / "crash.yaml"
    config.write_text(CRASH_CONFIG)
    reference = root / "reference.h5"
    fresh = run_cli("generate", "-c", str(config), "-o", str(reference), *PLAN_ARGS)  # a normal process
    assert fresh.returncode == 0, fresh.stderr
    server = GenerateServer(root / "logs")
    try:
        assert server.run(["validate", str(reference)]).returncode == 0  # waits for the server's imports
        forked = root / "forked.h5"
        began = time.perf_counter()
        run = server.run(["generate", "-c", str(config), "-o", str(forked), *PLAN_ARGS])
        seconds = time.perf_counter() - began
        assert run.returncode == 0, run.stderr
        assert_datasets_identical(
            forked, reference
        )  # a forked child computes exactly what a fresh process does
        yield Setup(root, server, config, reference, seconds)
    finally:
        server.close()


def interrupted_file_is_consistent(out: Path) -> None:
    """A killed run's file (when one exists) opens and has no problem but its pending samples."""
    if not out.exists():
        return
    problems = validate_dataset(out)
    assert all("not complete" in p.message for p in problems), [p.message for p in problems]


@pytest.mark.parametrize(
    "kill_point",
    [
        "create_dataset:1",  # the file skeleton has just been started
        "create_dataset:9",  # half of the skeleton's datasets exist
        "parameters",  # θ stored, compute plan not yet
        "mark_done:1",  # the first batch's data flushed, its done flags not yet
        "after_done:5",  # five batches complete
        "close",  # every operator written, the file not yet closed
    ],
)
def test_sigkill_at_named_points_then_resume_is_identical(setup: Setup, kill_point: str) -> None:
    out = setup.fresh_dir(kill_point.replace(":", "-")) / "d.h5"
    run = setup.server.run(setup.argv(out), kill_point=kill_point)
    assert run.returncode == -signal.SIGKILL
    interrupted_file_is_consistent(out)
    setup.resume_and_check(out)


@pytest.mark.parametrize("trials", [10, pytest.param(60, marks=pytest.mark.slow)])
def test_sigkill_at_random_moments_then_resume_is_identical(setup: Setup, trials: int) -> None:
    rng = random.Random(SEED + trials)
    killed = 0
    for trial in range(trials):
        out = setup.fresh_dir(f"random{trial}") / "d.h5"
        run = setup.server.start(setup.argv(out))
        time.sleep(rng.uniform(0.0, 1.1 * setup.seconds))
        killed += run.signal(signal.SIGKILL) == -signal.SIGKILL
        interrupted_file_is_consistent(out)
        if trial % 3 == 2:  # kill the resume too, sooner or later
            again = setup.server.start(setup.argv(out, "--resume"))
            time.sleep(rng.uniform(0.0, 0.8 * setup.seconds))
            again.signal(signal.SIGKILL)
            interrupted_file_is_consistent(out)
        setup.resume_and_check(out)
    assert killed >= trials // 3, f"only {killed} of {trials} runs were still running when killed"


def _fresh_generate(*args: str) -> subprocess.Popen[bytes]:
    code = "from spinlock.core.cli import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=child_env(),
    )


@pytest.mark.slow
@pytest.mark.parametrize("trials", [4])
def test_sigkill_of_a_freshly_started_process_then_resume_is_identical(setup: Setup, trials: int) -> None:
    """The plain `spinlock generate` process (no fork server): killed once its file appears, resumed anew."""
    rng = random.Random(SEED - trials)
    for trial in range(trials):
        directory = setup.fresh_dir(f"fresh{trial}")
        out = directory / "d.h5"
        proc = _fresh_generate(*setup.argv(out))
        try:
            deadline = time.monotonic() + 120
            while not any(directory.iterdir()) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.7 * setup.seconds))
        finally:
            proc.kill()
            proc.wait()
        interrupted_file_is_consistent(out)
        resumed = run_cli(*setup.argv(out, "--resume"))
        assert resumed.returncode == 0, resumed.stderr
        assert validate_dataset(out) == []
        assert_datasets_identical(out, setup.reference)
        assert stray_files(directory, [out]) == []


def test_file_size_limit_stops_cleanly_and_resume_is_identical(setup: Setup) -> None:
    """Disk full, simulated by RLIMIT_FSIZE: a clear error before HDF5 is hurt, then a complete resume."""
    final_size = setup.reference.stat().st_size
    for extra in (0, HEADROOM_BYTES + final_size // 2):
        limit = 1024 + extra
        out = setup.fresh_dir(f"fsize{limit}") / "d.h5"
        run = setup.server.run(setup.argv(out), fsize=limit)
        assert run.returncode == 2, run.stderr
        assert f"error: {out}: " in run.stderr
        assert "file too large" in run.stderr and "resume" in run.stderr
        assert "Traceback" not in run.stderr
        interrupted_file_is_consistent(out)
        setup.resume_and_check(out)


def test_hdf5_itself_running_out_of_room_gives_a_clear_error(setup: Setup) -> None:
    """Without the writer's room check HDF5 fails mid-write: exit 2 and a last line naming file and cause.

    (h5py prints "Exception ignored" tracebacks of its own handles' failing cleanup before it: printed from
    Cython deallocators, they cannot be intercepted; the room check exists so that this path is rare.)
    """
    limit = setup.reference.stat().st_size // 2
    out = setup.fresh_dir("hdf5-efbig") / "d.h5"
    run = setup.server.run(setup.argv(out), fsize=limit, no_room_check=True)
    assert run.returncode == 2, run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {out}: writing samples ") and "file too large" in last, run.stderr
    assert "spinlock validate" in last


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 1.25 MiB tmpfs (needs root and a kernel that lets us mount one; skipped otherwise)."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root on Linux")
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    size = HEADROOM_BYTES + 256 * 1024
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_full_tmpfs_stops_cleanly_and_resume_is_identical(setup: Setup, small_tmpfs: Path) -> None:
    out = small_tmpfs / "d.h5"
    run = setup.server.run(setup.argv(out))
    assert run.returncode == 2, run.stderr
    assert f"error: {out}: no space left on device" in run.stderr and "Traceback" not in run.stderr
    interrupted_file_is_consistent(out)
    grown = subprocess.run(["mount", "-o", "remount,size=16m", str(small_tmpfs)], check=False)
    assert grown.returncode == 0
    setup.resume_and_check(out)


@pytest.mark.parametrize("trials", [3, pytest.param(20, marks=pytest.mark.slow)])
def test_ctrl_c_exits_130_and_resume_is_identical(setup: Setup, trials: int) -> None:
    rng = random.Random(SEED * 3 + trials)
    delays = [0.0] + [rng.uniform(0.0, 1.1 * setup.seconds) for _ in range(trials - 1)]
    interrupted = 0
    for trial, delay in enumerate(delays):
        out = setup.fresh_dir(f"sigint{trial}") / "d.h5"
        run = setup.server.start(setup.argv(out))
        time.sleep(delay)
        code = run.signal(signal.SIGINT)
        assert "Traceback" not in run.stderr, run.stderr
        if code == 0:  # finished before the signal arrived
            continue
        interrupted += 1
        assert code == 130, run.stderr
        # the first Ctrl-C is deferred to the next batch boundary and says so; the error is the last line
        lines = run.stderr.splitlines()
        assert lines and lines[-1].startswith("error: interrupted"), (run.stderr, run.stdout, delay)
        if out.exists():
            assert f"resume with `spinlock generate -o {out} --resume --batch-size 2`" in run.stderr
        interrupted_file_is_consistent(out)
        setup.resume_and_check(out)
    assert interrupted >= 1


@pytest.mark.slow
def test_resume_summary_counts_only_the_operators_it_wrote(setup: Setup) -> None:
    out = setup.fresh_dir("summary") / "d.h5"
    setup.server.run(setup.argv(out), kill_point="after_done:3")
    resumed = setup.server.run(setup.argv(out, "--resume", "--json"))
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["written"] + 6 == summary["n_operators"] == 32
