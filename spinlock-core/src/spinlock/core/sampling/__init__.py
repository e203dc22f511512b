"""Parameter sampling: unit-cube samplers, the typed parameter space and sample-quality metrics."""
