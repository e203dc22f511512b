"""Early stopping and best weights (spinlock.core.training.BestModelTracker), shared by the VQ-VAE and NOA
training loops."""

from __future__ import annotations

import torch

from spinlock.core.training import BestModelTracker

LOSSES = [5.0, 4.0, 4.0, 3.0, 3.5, 3.2, 3.0000001, 3.1, 2.0]


def _run(tracker: BestModelTracker, module: torch.nn.Linear, epochs: range) -> list[int]:
    """Feed ``LOSSES[epochs]`` as val_total, with the module's bias set to the epoch; returns the epochs run."""
    ran = []
    for epoch in epochs:
        if tracker.exhausted:
            break
        with torch.no_grad():
            module.bias.fill_(float(epoch))
        tracker.update({"epoch": epoch, "train_total": 0.0, "val_total": LOSSES[epoch]})
        ran.append(epoch)
    return ran


def test_best_epoch_weights_and_patience() -> None:
    module = torch.nn.Linear(1, 1)
    tracker = BestModelTracker(module, patience=3)
    ran = _run(tracker, module, range(len(LOSSES)))
    # 3.0 at epoch 3, then 3 stale epochs (a gain of 1e-7 relative is not an improvement): stop before 7
    assert ran == [0, 1, 2, 3, 4, 5, 6]
    assert tracker.best_epoch == 3 and tracker.best_loss == 3.0 and tracker.exhausted
    assert float(tracker.best_weights["bias"]) == 3.0  # a copy taken at the best epoch
    assert float(module.bias.detach()) == 6.0
    assert [record["epoch"] for record in tracker.history] == ran


def test_patience_zero_never_stops_and_train_total_is_the_fallback() -> None:
    module = torch.nn.Linear(1, 1)
    tracker = BestModelTracker(module, patience=0)
    for epoch, loss in enumerate([1.0, 2.0, 3.0, 4.0]):
        assert not tracker.exhausted
        assert tracker.update({"epoch": epoch, "train_total": loss}) == (epoch == 0)
    assert tracker.best_epoch == 0 and tracker.stale == 3


def test_resume_from_state_continues_the_uninterrupted_run() -> None:
    module = torch.nn.Linear(1, 1)
    whole = BestModelTracker(module, patience=3)
    expected = _run(whole, module, range(len(LOSSES)))

    first = BestModelTracker(module, patience=3)
    _run(first, module, range(5))
    saved, saved_best = first.state(4), dict(first.best_weights)
    resumed = BestModelTracker(torch.nn.Linear(1, 1), patience=3)
    resumed.module = module
    resumed.resume(saved, saved_best)
    assert resumed.first_epoch == 5
    ran = _run(resumed, module, range(resumed.first_epoch, len(LOSSES)))
    assert [0, 1, 2, 3, 4, *ran] == expected
    assert (resumed.best_epoch, resumed.best_loss, resumed.stale) == (
        whole.best_epoch,
        whole.best_loss,
        whole.stale,
    )
    assert resumed.history == whole.history
    assert float(resumed.best_weights["bias"]) == 3.0
