"""Helpers of the crash tests: a tiny generation config and a fork server that runs the real CLI.

Starting Python with torch takes ~4 s on two CPU cores, far longer than generating the tiny dataset. The
:class:`GenerateServer` imports everything once and forks a fresh child per command: the child runs
``spinlock.core.cli.main(argv)`` exactly as the ``spinlock`` console script does, in its own process, so it
can be SIGKILLed, interrupted or given a file-size limit at any moment. The server never reaps a child before
it is told to, so a signal can never reach a recycled pid.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: 32 operators on 16², 8 steps × 2 realizations, every built-in inline feature family, lzf-compressed
#: trajectories: about a second of generation with ``--batch-size 2`` (16 batches to be killed in).
CRASH_CONFIG = """\
seed: 11
n_operators: 32
grid: {height: 16, width: 16, channels: 1}
parameter_space:
  num_layers: {type: integer, low: 2, high: 3}
  dropout_rate: {type: continuous, low: 0.0, high: 0.3}
  update_policy: {type: choice, choices: [residual, convex, autoregressive]}
  noise_scale: {type: continuous, low: 1.0e-3, high: 0.1, log: true}
operator: {kind: cnn, params: {base_channels: 4}}
initial_conditions:
  grf: {kind: gaussian_random_field, params: {length_scale: 0.1}, weight: 3}
  front: {kind: reaction_front}
rollout: {steps: 8, realizations: 2, noise: {type: gaussian, scale: 0.01}}
features:
  - {kind: initial}
  - {kind: architecture}
  - {kind: summary}
  - {kind: temporal}
storage: {store_trajectories: true, trajectory_stride: 2, compression: lzf}
"""

#: The same compute plan for every run (torch's CPU thread count changes bits too: see ``child_env``).
PLAN_ARGS = ("--batch-size", "2", "-q")


def child_env() -> dict[str, str]:
    """The environment of every spinlock subprocess: one CPU thread, strict plugins."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", SPINLOCK_STRICT_PLUGINS="1")
    return env


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``spinlock ARGS`` in a fresh interpreter (the same code path as the console script)."""
    code = "from spinlock.core.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        check=False,
        env=child_env(),
        timeout=timeout,
    )


# -- the fork server ----------------------------------------------------------------------------------------

_SERVER = textwrap.dedent(
    r'''
    import json, os, resource, signal, sys, traceback

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C in the test's terminal is for the test
    import h5py, numpy, torch  # noqa: F401  (the expensive imports, done once)
    from spinlock.core.cli import main
    from spinlock.core.cli.app import build_app
    from spinlock.core.storage import writer as writer_module
    from spinlock.operators.generation import pipeline  # noqa: F401

    build_app()  # imports every command module and plugin

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    def install_kill_point(point: str) -> None:
        """SIGKILL this process at a named place of a run: deterministic kills the timer cannot aim at."""
        where, _, nth = point.partition(":")
        count = {"n": int(nth or 1)}

        def tick() -> None:
            count["n"] -= 1
            if count["n"] == 0:
                die()

        def wrap(owner, name, before=True):
            original = getattr(owner, name)

            def wrapped(*args, **kwargs):
                if before:
                    tick()
                result = original(*args, **kwargs)
                if not before:
                    tick()
                return result

            setattr(owner, name, wrapped)

        if where == "create_dataset":  # the nth dataset of the file skeleton
            wrap(h5py.Group, "create_dataset")
        elif where == "parameters":  # θ written, compute plan not yet
            wrap(writer_module.DatasetWriter, "set_compute_plan")
        elif where == "mark_done":  # the nth batch's data flushed, its done flags not yet
            wrap(writer_module.DatasetWriter, "_mark_done")
        elif where == "after_done":  # the nth batch complete
            wrap(writer_module.DatasetWriter, "_mark_done", before=False)
        elif where == "close":  # everything written, the file not yet closed
            wrap(writer_module.DatasetWriter, "close")
        else:
            raise SystemExit(f"unknown kill point {point!r}")

    def child(request: dict) -> int:
        for fd, target, flags in (
            (0, os.devnull, os.O_RDONLY),
            (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
            (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        ):
            os.dup2(os.open(target, flags, 0o644), fd)
        if request.get("fsize") is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
            resource.setrlimit(resource.RLIMIT_FSIZE, (request["fsize"], request["fsize"]))
        if request.get("kill_point"):
            install_kill_point(request["kill_point"])
        if request.get("no_room_check"):  # let HDF5 itself run into the full disk
            from spinlock.core.storage import _space
            _space.HEADROOM_BYTES = -(2**62)
        # SIGINT stays ignored (inherited from the server) until just before the CLI runs: a Ctrl-C that
        # landed between installing the handler and `try` used to end the child with 1 and no output
        entered = False
        try:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            entered = True
            main(request["argv"])
            return 0
        except KeyboardInterrupt:
            if not entered:
                return 130  # interrupted before the CLI started, as a console script would be
            traceback.print_exc()
            return 1
        except SystemExit as exc:
            code = exc.code
            return code if isinstance(code, int) else (0 if code is None else 1)
        except BaseException:
            traceback.print_exc()
            return 1

    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = child(request)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        print(json.dumps({"pid": pid}), flush=True)
        order = json.loads(sys.stdin.readline())
        if order.get("signal"):
            os.kill(pid, order["signal"])  # an exited child is a zombie until reaped: never a recycled pid
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            print(json.dumps({"returncode": -os.WTERMSIG(status)}), flush=True)
        else:
            print(json.dumps({"returncode": os.WEXITSTATUS(status)}), flush=True)
    '''
)


class Run:
    """One command running in a forked child of the server."""

    def __init__(self, server: GenerateServer, pid: int, log: Path) -> None:
        self._server = server
        self.pid = pid
        self.log = log
        self.returncode: int | None = None

    def _finish(self, sig: int | None) -> int:
        if self.returncode is None:
            self.returncode = int(self._server._talk({"signal": sig})["returncode"])
        return self.returncode

    def wait(self) -> int:
        """Wait for the command to end; its return code (``-N`` for signal N)."""
        return self._finish(None)

    def signal(self, sig: int) -> int:
        """Send ``sig`` (a no-op if it already ended) and wait for it to end."""
        return self._finish(int(sig))

    @property
    def stdout(self) -> str:
        return self.log.with_suffix(".out").read_text()

    @property
    def stderr(self) -> str:
        return self.log.with_suffix(".err").read_text()


class GenerateServer:
    """Runs ``spinlock`` commands in forked children of one pre-imported interpreter (see module doc)."""

    def __init__(self, logs: Path) -> None:
        self._logs = logs
        self._count = 0
        logs.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(),
        )

    def _talk(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(message) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the generate server died (exit {self._proc.wait()})")
        return json.loads(line)

    def start(
        self,
        argv: Sequence[str],
        *,
        fsize: int | None = None,
        kill_point: str | None = None,
        no_room_check: bool = False,
    ) -> Run:
        """Start ``spinlock ARGV`` in a forked child.

        :param fsize: ``RLIMIT_FSIZE`` of the child in bytes (SIGXFSZ ignored: writes fail with EFBIG).
        :param kill_point: SIGKILL the child at a named place (see the server code), e.g. ``"mark_done:3"``.
        :param no_room_check: disable the writer's check for room, so that HDF5 itself hits the limit.
        """
        self._count += 1
        log = self._logs / f"run{self._count:03d}"
        request = {
            "argv": [str(a) for a in argv],
            "stdout": str(log.with_suffix(".out")),
            "stderr": str(log.with_suffix(".err")),
            "fsize": fsize,
            "kill_point": kill_point,
            "no_room_check": no_room_check,
        }
        return Run(self, int(self._talk(request)["pid"]), log)

    def run(self, argv: Sequence[str], **options: Any) -> Run:
        """Run ``spinlock ARGV`` to its end."""
        run = self.start(argv, **options)
        run.wait()
        return run

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


@contextmanager
def generate_server(logs: Path) -> Iterator[GenerateServer]:
    server = GenerateServer(logs)
    try:
        yield server
    finally:
        server.close()


def stray_files(directory: Path, keep: Sequence[Path]) -> list[str]:
    """Files in ``directory`` other than ``keep`` (temporary files a run left behind)."""
    kept = {p.name for p in keep}
    return sorted(p.name for p in directory.iterdir() if p.name not in kept)
