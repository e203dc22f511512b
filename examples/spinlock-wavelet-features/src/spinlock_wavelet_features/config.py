"""Config and version of the ``wavelet`` family (torch-free: the plugin module imports this at load time)."""

from __future__ import annotations

import attrs

#: version of the family's column definitions, stored with the values (bump it whenever a column changes)
WAVELET_VERSION = "1.0"


@attrs.frozen
class WaveletConfig:
    """Parameters of the ``wavelet`` feature family.

    :param levels: number L of Haar levels (≥ 1). Fields must have height and width divisible by ``2**L``.
        Each level adds three columns per channel (``LH``, ``HL``, ``HH``).
    :param chunk_elements: time steps are processed in chunks of about this many input elements per sample
        (a chunk holds at least one time step), which bounds the memory of long trajectories. It does not
        change the values beyond floating-point summation order.
    """

    levels: int = attrs.field(
        default=3, validator=[attrs.validators.instance_of(int), attrs.validators.ge(1)]
    )
    chunk_elements: int = attrs.field(
        default=1 << 20, validator=[attrs.validators.instance_of(int), attrs.validators.ge(1)]
    )
