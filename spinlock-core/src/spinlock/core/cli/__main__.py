"""``python -m spinlock.core.cli``: the ``spinlock`` command, for launchers that take a module
(``torchrun --nproc-per-node K -m spinlock.core.cli train-vqvae ...``)."""

from __future__ import annotations

from spinlock.core.cli.app import main

if __name__ == "__main__":
    main()
