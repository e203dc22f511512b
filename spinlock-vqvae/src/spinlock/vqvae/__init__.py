"""spinlock.vqvae — part of the Spinlock monorepo (see spinlock-vqvae/README.md)."""

__version__ = "0.1.0"
