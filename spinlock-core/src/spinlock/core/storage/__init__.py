"""HDF5 dataset storage: the versioned layout, the crash-safe writer, a typed reader and the validator.

Heavy imports (h5py, numpy) happen when this package is imported; the CLI imports it inside commands.
"""

from spinlock.core.storage import layout
from spinlock.core.storage.errors import DatasetError
from spinlock.core.storage.layout import FORMAT_VERSION
from spinlock.core.storage.merge import MergeError, MergeSummary, merge_shards
from spinlock.core.storage.reader import (
    DatasetReader,
    FeatureFamilyInfo,
    FeatureValues,
    TokenValues,
    open_dataset,
)
from spinlock.core.storage.validate import Problem, validate_dataset
from spinlock.core.storage.writer import DatasetWriter, FeatureDeclaration, TrajectorySpec

__all__ = [
    "FORMAT_VERSION",
    "DatasetError",
    "DatasetReader",
    "DatasetWriter",
    "FeatureDeclaration",
    "FeatureFamilyInfo",
    "FeatureValues",
    "MergeError",
    "MergeSummary",
    "Problem",
    "TokenValues",
    "TrajectorySpec",
    "layout",
    "merge_shards",
    "open_dataset",
    "validate_dataset",
]
