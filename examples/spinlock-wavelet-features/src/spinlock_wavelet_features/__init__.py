"""Spinlock plugin: the ``wavelet`` feature family (multiscale Haar wavelet energies of a trajectory).

Spinlock finds it through the ``wavelet`` entry point in the ``spinlock`` group (see ``pyproject.toml``);
nothing here needs to be imported by hand. Importing this package imports no torch.
"""

__version__ = "0.1.0"
