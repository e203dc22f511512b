"""Names, shapes and dtypes of the Spinlock dataset layout, format version 1.

One HDF5 file per dataset. ``N`` operators, ``P`` unit-cube parameter columns, ``C`` channels, spatial extent
``H, W`` (in general ``n_spatial_dims`` axes), ``M`` realizations, ``T`` rollout steps stored every
``stride`` steps (``T' = ceil(T / stride)``), ``D`` feature columns. Extend, never rename, without bumping
:data:`FORMAT_VERSION`.

==================================  ===========================  =================================================
Path                                Shape, dtype                 Attributes / meaning
==================================  ===========================  =================================================
``/``                               attrs                        ``spinlock_format_version`` (int), ``config``
                                                                 (YAML text), ``provenance`` (JSON: distribution
                                                                 -> version), ``seed`` (int), ``n_operators``
                                                                 (int), ``n_spatial_dims`` (int); optional
                                                                 ``compute_plan`` (JSON), ``shard`` (JSON, shard
                                                                 files only)
``/parameters/unit``                ``(N, P)`` float64           sampler's unit-cube points; attrs ``names`` (JSON
                                                                 list, column order), ``quality`` (JSON sample
                                                                 quality metrics), ``space`` (JSON description of
                                                                 the parameter space)
``/parameters/<name>``              ``(N,)`` int64 / float64 /   each typed parameter as the operator saw it
                                    bool / utf-8 str
``/initial_conditions/fields``      ``(N, C, H, W)`` float32     u0 of each operator
``/initial_conditions/types``       ``(N,)`` utf-8 str           IC type name (a named variant or a generator)
``/initial_conditions/kinds``       ``(N,)`` utf-8 str           registered generator behind the type
``/trajectories/fields``            ``(N, M, T', C, H, W)``      optional stored states; attrs ``stride``,
                                    float32 (float16 opt-in)     ``steps`` (T)
``/rollout/status``                 ``(N,)`` utf-8 str           ``ok`` / ``diverged`` / ``failed``; ``pending``
                                                                 until the sample is written
``/rollout/diverged_step``          ``(N,)`` int32               first diverged step, ``-1`` for none
``/features/<family>/values``       ``(N, D)`` or ``(N, T, D)``  attrs ``names`` (JSON list of D), ``version``,
                                    float32                      ``provider``, optional ``categories`` (JSON list
                                                                 of D)
``/progress/done``                  ``(N,)`` bool                sample complete: all of its data is on disk
``/tokens/<tokenizer>/ids``         ``(N, K, L)`` int32          token id per sample, category (K) and level (L),
                                                                 ``-1`` = not tokenized; attrs ``categories``
                                                                 (JSON list of K), ``levels`` (JSON list of L,
                                                                 coarse first), ``codebook_sizes`` (JSON K×L
                                                                 list of ints), ``model`` (JSON object:
                                                                 provenance of the model), ``model_config`` (YAML
                                                                 text), ``version``, ``provider``
==================================  ===========================  =================================================

Unwritten float values read as NaN (the fill value), so a missing sample is never mistaken for zeros; unwritten
token ids read :data:`NOT_TOKENIZED` (``-1``).
"""

from __future__ import annotations

import re
from typing import Final

FORMAT_VERSION: Final = 1

# Root attributes.
ATTR_FORMAT_VERSION: Final = "spinlock_format_version"
ATTR_CONFIG: Final = "config"
ATTR_PROVENANCE: Final = "provenance"
#: JSON of the compute plan (batch size, device, precision) that made the data; resume reuses it
ATTR_COMPUTE_PLAN: Final = "compute_plan"
ATTR_SEED: Final = "seed"
#: JSON ``{"index": i, "count": N, "samples": k}`` on a shard file only (``spinlock generate --shard i/N``): the
#: file holds the whole layout but only the ``k`` samples of shard ``i`` of ``N`` get written; ``spinlock
#: merge`` drops it
ATTR_SHARD: Final = "shard"
ATTR_N_OPERATORS: Final = "n_operators"
ATTR_N_SPATIAL_DIMS: Final = "n_spatial_dims"
ROOT_ATTRS: Final = (
    ATTR_FORMAT_VERSION,
    ATTR_CONFIG,
    ATTR_PROVENANCE,
    ATTR_SEED,
    ATTR_N_OPERATORS,
    ATTR_N_SPATIAL_DIMS,
)

# Parameters.
PARAMETERS: Final = "/parameters"
PARAMETERS_UNIT: Final = "/parameters/unit"
UNIT_NAME: Final = "unit"
ATTR_NAMES: Final = "names"
ATTR_QUALITY: Final = "quality"
ATTR_SPACE: Final = "space"

# Initial conditions.
INITIAL_CONDITIONS: Final = "/initial_conditions"
IC_FIELDS: Final = "/initial_conditions/fields"
IC_TYPES: Final = "/initial_conditions/types"
IC_KINDS: Final = "/initial_conditions/kinds"

# Trajectories.
TRAJECTORIES: Final = "/trajectories"
TRAJECTORY_FIELDS: Final = "/trajectories/fields"
ATTR_STRIDE: Final = "stride"
ATTR_STEPS: Final = "steps"
TRAJECTORY_DTYPES: Final = ("float32", "float16")

# Rollout outcome.
ROLLOUT: Final = "/rollout"
ROLLOUT_STATUS: Final = "/rollout/status"
ROLLOUT_DIVERGED_STEP: Final = "/rollout/diverged_step"
STATUS_OK: Final = "ok"
STATUS_DIVERGED: Final = "diverged"
STATUS_FAILED: Final = "failed"
STATUS_PENDING: Final = "pending"
WRITTEN_STATUSES: Final = (STATUS_OK, STATUS_DIVERGED, STATUS_FAILED)
STATUSES: Final = (*WRITTEN_STATUSES, STATUS_PENDING)
NO_DIVERGENCE: Final = -1

# Features.
FEATURES: Final = "/features"
FEATURE_VALUES: Final = "values"
ATTR_VERSION: Final = "version"
ATTR_PROVIDER: Final = "provider"
ATTR_CATEGORIES: Final = "categories"

# Progress.
PROGRESS: Final = "/progress"
PROGRESS_DONE: Final = "/progress/done"

# Tokens: one group per tokenizer, ``/tokens/<tokenizer>/ids``.
TOKENS: Final = "/tokens"
TOKEN_IDS: Final = "ids"
#: ``(N, K, L)`` token ids are stored as this dtype
TOKEN_DTYPE: Final = "int32"
#: the id of a (sample, category, level) that has no token (not tokenized yet, features missing, diverged)
NOT_TOKENIZED: Final = -1
#: a tokenizer name: letters, digits, ``_`` and ``-`` (it becomes an HDF5 group name)
TOKENIZER_NAME_PATTERN: Final = r"[A-Za-z0-9_-]+"
ATTR_LEVELS: Final = "levels"
ATTR_CODEBOOK_SIZES: Final = "codebook_sizes"
ATTR_MODEL: Final = "model"
ATTR_MODEL_CONFIG: Final = "model_config"
#: attributes every ``/tokens/<tokenizer>/ids`` carries (``categories``, ``levels``, ``codebook_sizes`` and
#: ``model`` are JSON text; ``model_config`` is YAML text; ``version`` and ``provider`` are plain text)
TOKEN_ATTRS: Final = (
    ATTR_CATEGORIES,
    ATTR_LEVELS,
    ATTR_CODEBOOK_SIZES,
    ATTR_MODEL,
    ATTR_MODEL_CONFIG,
    ATTR_VERSION,
    ATTR_PROVIDER,
)
TOKEN_JSON_ATTRS: Final = (ATTR_CATEGORIES, ATTR_LEVELS, ATTR_CODEBOOK_SIZES, ATTR_MODEL)
TOKEN_TEXT_ATTRS: Final = (ATTR_MODEL_CONFIG, ATTR_VERSION, ATTR_PROVIDER)

COMPRESSIONS: Final = ("none", "lzf", "gzip")
GZIP_LEVEL: Final = 4


def feature_values_path(family: str) -> str:
    """HDF5 path of a family's value array, ``/features/<family>/values``."""
    return f"{FEATURES}/{family}/{FEATURE_VALUES}"


def parameter_path(name: str) -> str:
    """HDF5 path of one typed parameter, ``/parameters/<name>``."""
    return f"{PARAMETERS}/{name}"


def stored_steps(steps: int, stride: int) -> int:
    """Number of stored states ``T' = ceil(T / stride)`` for ``T`` steps kept every ``stride`` steps."""
    return -(-steps // stride)


def is_tokenizer_name(name: object) -> bool:
    """Whether ``name`` is a valid tokenizer name (letters, digits, ``_``, ``-``; non-empty)."""
    return isinstance(name, str) and re.fullmatch(TOKENIZER_NAME_PATTERN, name, flags=re.ASCII) is not None


def is_codebook_sizes(value: object, n_categories: int, n_levels: int) -> bool:
    """Whether ``value`` (a decoded ``codebook_sizes`` attribute) is a K×L nested list of ints >= 1."""
    return (
        isinstance(value, list)
        and len(value) == n_categories
        and all(
            isinstance(row, list)
            and len(row) == n_levels
            and all(isinstance(size, int) and not isinstance(size, bool) and size >= 1 for size in row)
            for row in value
        )
    )


def tokens_group_path(tokenizer: str) -> str:
    """HDF5 path of one tokenizer's group, ``/tokens/<tokenizer>``."""
    return f"{TOKENS}/{tokenizer}"


def token_ids_path(tokenizer: str) -> str:
    """HDF5 path of one tokenizer's id array, ``/tokens/<tokenizer>/ids``."""
    return f"{TOKENS}/{tokenizer}/{TOKEN_IDS}"


def token_staging_name(tokenizer: str) -> str:
    """Name, under ``/tokens``, of the group a replacement of ``tokenizer`` is written to before it is moved
    into place. It is never a valid tokenizer name, so a crash mid-write cannot pass for a token set."""
    return f".{tokenizer}.partial"
