"""spinlock.noa — part of the Spinlock monorepo (see spinlock-noa/README.md)."""

__version__ = "0.1.0"
