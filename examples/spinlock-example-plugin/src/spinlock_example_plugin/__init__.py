"""Example Spinlock plugin: registers a scrambled Halton sampler called ``halton``.

Spinlock finds it through the ``example`` entry point in the ``spinlock`` group (see ``pyproject.toml``);
nothing here needs to be imported by hand.
"""

__version__ = "0.0.1"
