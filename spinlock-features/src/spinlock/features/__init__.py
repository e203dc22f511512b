"""spinlock.features — part of the Spinlock monorepo (see spinlock-features/README.md)."""

__version__ = "0.1.0"
