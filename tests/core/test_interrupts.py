"""Deferred Ctrl-C: the first SIGINT requests a stop honoured at a safe point, the second interrupts."""

from __future__ import annotations

import os
import signal

import pytest

from spinlock.core.interrupts import check_stop, deferred_interrupts, stop_requested


def test_first_sigint_is_deferred_to_the_next_safe_point(capsys: pytest.CaptureFixture[str]) -> None:
    before = signal.getsignal(signal.SIGINT)
    with deferred_interrupts("stopping soon"):
        check_stop()  # nothing requested yet
        os.kill(os.getpid(), signal.SIGINT)
        assert stop_requested()
        with pytest.raises(KeyboardInterrupt):
            check_stop()
    assert "stopping soon" in capsys.readouterr().err
    assert not stop_requested()  # the request ends with the block
    assert signal.getsignal(signal.SIGINT) is before


def _two_interrupts() -> None:
    with deferred_interrupts():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        pytest.fail("the second Ctrl-C did not interrupt")


def test_second_sigint_interrupts_at_once() -> None:
    with pytest.raises(KeyboardInterrupt):
        _two_interrupts()
    assert not stop_requested()
