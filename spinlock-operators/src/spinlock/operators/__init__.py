"""spinlock.operators — part of the Spinlock monorepo (see spinlock-operators/README.md)."""

__version__ = "0.1.0"
