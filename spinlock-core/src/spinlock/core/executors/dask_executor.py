"""The ``dask`` executor: tasks as Dask futures on a scheduler (given by address) or on a LocalCluster.

Failure handling is Dask's own, not ours:

- a worker that dies (killed, out of memory, node lost) makes the scheduler reschedule the tasks it was
  running on another worker, up to ``distributed.scheduler.allowed-failures`` times per task; past that the
  task fails with ``KilledWorker``;
- a task that *raises* is resubmitted ``retries`` times;
- each finished future is released as soon as its result is in hand, so the scheduler forgets the task: a
  worker that dies later holds nothing anyone still wants, and a completed task is never recomputed.

Tasks must be idempotent (shard tasks resume their own file), since a rescheduled task starts again from the
beginning on its new worker.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

from spinlock.core.executors.base import (
    ExecutorError,
    ExecutorUnavailable,
    NullTaskProgress,
    TaskProgress,
    task_labels,
)
from spinlock.core.executors.configs import DaskExecutorConfig
from spinlock.core.interrupts import check_stop

T = TypeVar("T")

INSTALL_HINT = "pip install 'spinlock-core[dask]'"


def require_distributed() -> Any:
    """The ``distributed`` module, or :class:`ExecutorUnavailable` saying how to install it."""
    try:
        import distributed
    except ImportError as exc:
        raise ExecutorUnavailable(
            f"the dask executor needs dask[distributed], which is not installed ({exc}); "
            f"install it with: {INSTALL_HINT}"
        ) from None
    return distributed


class DaskExecutor:
    """Runs tasks on Dask; enter it (``with DaskExecutor(cfg) as ex:``) to connect or start the cluster.

    Without an address, a LocalCluster of ``workers`` processes with one thread each is started on enter
    and shut down on exit.
    """

    def __init__(self, config: DaskExecutorConfig | None = None) -> None:
        self.config = config or DaskExecutorConfig()
        self._distributed = require_distributed()
        self._cluster: Any = None
        self._client: Any = None

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` (only while entered)."""
        if self._client is None:
            raise ExecutorError("the dask executor is not started; use it as a context manager")
        return self._client

    @property
    def parallelism(self) -> int:
        """Workers connected to the scheduler now (at least 1)."""
        return max(1, len(self.client.nthreads()))

    def __enter__(self) -> Self:
        import dask

        distributed = self._distributed
        config = self.config
        try:
            if config.address is not None:
                self._client = distributed.Client(config.address, timeout="30s")
            else:
                # The LocalCluster's scheduler lives in this process and reads the setting when it starts.
                with dask.config.set({"distributed.scheduler.allowed-failures": config.allowed_failures}):
                    import dask

                    # read by each nanny when it is made, and used for every (re)spawn of its worker
                    with dask.config.set({"distributed.nanny.pre-spawn-environ": _worker_environment()}):
                        self._cluster = distributed.LocalCluster(
                            n_workers=config.workers or _cpu_count(),
                            threads_per_worker=1,
                            processes=True,
                            dashboard_address=None,
                        )
                self._client = distributed.Client(self._cluster)
        except (OSError, TimeoutError) as exc:
            self._shutdown()
            where = config.address or "a LocalCluster"
            raise ExecutorError(f"cannot start the dask executor on {where}: {exc}") from exc
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._shutdown()

    def _shutdown(self) -> None:
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    def run(
        self,
        tasks: Sequence[Callable[[], T]],
        *,
        labels: Sequence[str] | None = None,
        progress: TaskProgress | None = None,
    ) -> list[T]:
        names = task_labels(tasks, labels)
        progress = progress or NullTaskProgress()
        client = self.client
        run_id = uuid.uuid4().hex[:8]
        outstanding: dict[str, Any] = {}
        position: dict[str, int] = {}
        for i, (task, name) in enumerate(zip(tasks, names, strict=True)):
            future = client.submit(task, key=f"{name} [{run_id}]", retries=self.config.retries)
            outstanding[future.key] = future
            position[future.key] = i
        results: list[Any] = [None] * len(tasks)
        progress.start(len(tasks))
        try:
            for future in _completed(self._distributed.as_completed(list(outstanding.values()))):
                del outstanding[future.key]
                name = names[position[future.key]]
                try:
                    results[position[future.key]] = future.result()
                except self._distributed.KilledWorker as exc:
                    raise ExecutorError(
                        f"{name} failed: its worker died more than "
                        f"distributed.scheduler.allowed-failures times ({exc})"
                    ) from exc
                except Exception as exc:
                    raise ExecutorError(f"{name} failed: {type(exc).__name__}: {exc}") from exc
                finally:
                    future.release()  # the scheduler forgets it: never recomputed if its worker dies later
                progress.advance(1)
        finally:
            progress.stop()
            if outstanding:
                client.cancel(list(outstanding.values()))
        return results


#: Allocator settings of LocalCluster workers. Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_=65536`` so that
#: idle workers hand memory back; generation allocates and frees the same large buffers every batch, and
#: with that setting each one goes back to the kernel and is faulted in again: workers ran at half the
#: speed of the same work in one process (benchmarks/README.md). Keeping freed memory in the heap fixes it.
WORKER_ALLOCATOR: dict[str, str] = {"MALLOC_TRIM_THRESHOLD_": "100000000000", "MALLOC_MMAP_MAX_": "0"}


def _worker_environment() -> dict[str, Any]:
    """Dask's pre-spawn environment with :data:`WORKER_ALLOCATOR` on top (a user's own environment still
    wins: the nanny prefers variables already set in the OS)."""
    import dask

    return {**dask.config.get("distributed.nanny.pre-spawn-environ"), **WORKER_ALLOCATOR}


def _completed(pending: Any) -> Iterator[Any]:
    """Futures of a ``distributed.as_completed`` as they finish, with a Ctrl-C safe point between polls."""
    while not pending.is_empty():
        check_stop()
        if pending.has_ready():
            yield from pending.next_batch(block=False)
        else:
            time.sleep(0.05)


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
