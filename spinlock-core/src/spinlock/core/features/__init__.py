"""The feature-family contract shared by spinlock-features and third-party families (torch-free here)."""

from spinlock.core.features.family import (
    FEATURE_INPUTS,
    FeatureColumns,
    FeatureFamily,
    FeatureInputs,
)

__all__ = ["FEATURE_INPUTS", "FeatureColumns", "FeatureFamily", "FeatureInputs"]
