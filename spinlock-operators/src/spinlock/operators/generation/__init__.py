"""Dataset generation: θ → operators → initial conditions → rollouts → HDF5 (``spinlock generate``)."""
