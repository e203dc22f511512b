"""The executor plugins core registers: `local` runs tasks in order here, `dask` needs the optional extra."""

from __future__ import annotations

import functools
import json
import operator
import sys

import pytest

from spinlock.core.config import load_run_config
from spinlock.core.executors import (
    DaskExecutorConfig,
    ExecutorError,
    ExecutorUnavailable,
    LocalExecutorConfig,
    build_executor,
)
from spinlock.core.executors.local import LocalExecutor


class CountingProgress:
    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []

    def start(self, total: int) -> None:
        self.events.append(("start", total))

    def advance(self, n: int) -> None:
        self.events.append(("advance", n))

    def stop(self) -> None:
        self.events.append(("stop", 0))


def test_core_registers_local_and_dask(manager):
    executors = manager.components["executor"]
    assert {"local", "dask"} <= set(executors.names())
    assert executors.get("local").config_cls is LocalExecutorConfig
    dask = executors.get("dask")
    assert dask.config_cls is DaskExecutorConfig and dask.distribution == "spinlock-core"
    assert dask.plugin == "core"


def test_list_plugins_shows_the_executors():
    from typer.testing import CliRunner

    from spinlock.core.cli import build_app

    result = CliRunner().invoke(build_app(), ["list-plugins", "--kind", "executor", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    core = next(row for row in rows if row["name"] == "core")
    assert core["components"]["executor"] == ["local", "dask"]


def test_local_executor_runs_tasks_in_order_and_names_a_failure(manager):
    progress = CountingProgress()
    tasks = [functools.partial(operator.mul, i, 10) for i in range(4)]
    with build_executor(manager, "local") as executor:
        assert isinstance(executor, LocalExecutor) and executor.parallelism == 1
        assert executor.run(tasks, progress=progress) == [0, 10, 20, 30]
    assert progress.events == [("start", 4)] + [("advance", 1)] * 4 + [("stop", 0)]
    failing = [functools.partial(operator.truediv, 1, d) for d in (1, 0, 2)]
    with pytest.raises(ExecutorError, match="shard 1/3 failed: ZeroDivisionError"):
        LocalExecutor().run(failing, labels=["shard 0/3", "shard 1/3", "shard 2/3"])
    with pytest.raises(ValueError, match="2 labels for 3 tasks"):
        LocalExecutor().run(failing, labels=["a", "b"])


def test_dask_without_the_extra_names_the_install_command(manager, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` raises ImportError
    with pytest.raises(ExecutorUnavailable, match=r"pip install 'spinlock-core\[dask\]'"):
        build_executor(manager, "dask")


def test_dask_executor_config_validates():
    assert DaskExecutorConfig().address is None
    with pytest.raises(ValueError):
        DaskExecutorConfig(workers=0)
    with pytest.raises(ValueError):
        DaskExecutorConfig(retries=-1)


def test_the_run_config_selects_the_executor(manager, tmp_path, tiny):
    from spinlock.operators.generation.scaleout_cli import choose_executor

    path = tiny.write(tmp_path, tiny.text + "executor: {kind: dask, params: {workers: 3, retries: 2}}\n")
    config = load_run_config(path, manager)
    choice = choose_executor(
        manager, config, executor=None, scheduler=None, workers=None, shards=None, shard=None
    )
    assert choice is not None and choice.kind == "dask"
    assert choice.params == DaskExecutorConfig(workers=3, retries=2)
    chosen = choose_executor(
        manager, config, executor=None, scheduler="tcp://h:1", workers=None, shards=4, shard=None
    )
    assert chosen is not None and chosen.params.address == "tcp://h:1" and chosen.shards == 4
    # --executor local overrides the config: one piece, in this process
    assert (
        choose_executor(
            manager, config, executor="local", scheduler=None, workers=None, shards=None, shard=None
        )
        is None
    )
    bad = tiny.write(tmp_path, tiny.text + "executor: {kind: dask, params: {worker: 3}}\n", "bad.yaml")
    from spinlock.core.config import ConfigError

    with pytest.raises(ConfigError, match="worker"):
        load_run_config(bad, manager)
