"""The initial-condition generator protocol and the helpers every generator shares.

Protocol: ``generator(seeds, *, channels, height, width, device) -> (B, C, H, W) float32``. Sample ``i``
depends only on ``seeds[i]``: each sample draws its random numbers from its own ``torch.Generator`` (a short
loop over samples for the draws), and all arithmetic is done on the whole batch at once.

Conventions shared by the helpers:

- ``L = min(H, W)`` is the unit of length; pixel ``(i, j)`` sits at ``(y, x) = (i / L, j / L)``, so the
  domain is ``[0, H/L) × [0, W/L)`` and the shorter side is 1.
- Wavenumbers are in cycles per L; the FFT is orthonormal, so a white-noise field filtered by an amplitude
  ``A(k)`` has pointwise variance ``Σ_k A(k)² / (H·W)`` over the full spectrum.
- Spectra are built in float64 (they are small) and applied to float32 noise.
"""

from __future__ import annotations

import abc
import hashlib
import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import torch

from spinlock.core.seeding import torch_generator

#: golden angle (radians): phase offsets of successive channels that never coincide or oppose exactly
GOLDEN_ANGLE = math.pi * (3.0 - math.sqrt(5.0))


@runtime_checkable
class InitialConditionGenerator(Protocol):
    """What an initial-condition factory returns."""

    def __call__(
        self,
        seeds: Sequence[int],
        *,
        channels: int,
        height: int,
        width: int,
        device: str | torch.device = "cpu",
    ) -> torch.Tensor:
        """A ``(len(seeds), channels, height, width)`` float32 tensor; sample i depends only on seeds[i]."""
        ...


def sub_seed(seed: int, tag: str) -> int:
    """A 63-bit seed derived from a sample's seed for a named sub-stream (e.g. a nested generator)."""
    digest = hashlib.blake2b(f"{seed}:{tag}".encode(), digest_size=8, person=b"spinlock-ic").digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


class Context:
    """Per-call state: sizes, device, one generator per sample, and cached coordinate grids."""

    def __init__(
        self, seeds: Sequence[int], channels: int, height: int, width: int, device: str | torch.device
    ) -> None:
        self.seeds = [int(s) for s in seeds]
        self.B = len(self.seeds)
        self.C = int(channels)
        self.H = int(height)
        self.W = int(width)
        self.L = min(self.H, self.W)
        self.device = torch.device(device)
        # CPU generators on every device: an IC's numbers then do not depend on where the run computes
        # (CUDA's Philox streams differ from the CPU's). ICs are small, so the copy to the device is cheap.
        self.generators = [torch_generator(s, "cpu") for s in self.seeds]

    # -- per-sample draws (a loop over samples: each sample's numbers come from its own generator) --------

    def uniform(self, *shape: int, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
        """``(B, *shape)`` uniform draws in [low, high)."""
        draws = [torch.rand(shape, generator=g) for g in self.generators]
        out = (torch.stack(draws) if draws else torch.empty((0, *shape))).to(self.device)
        return out * (high - low) + low if (low, high) != (0.0, 1.0) else out

    def normal(self, *shape: int) -> torch.Tensor:
        """``(B, *shape)`` standard normal draws."""
        draws = [torch.randn(shape, generator=g) for g in self.generators]
        return (torch.stack(draws) if draws else torch.empty((0, *shape))).to(self.device)

    # -- grids ----------------------------------------------------------------------------------------

    @property
    def extent(self) -> tuple[float, float]:
        """``(H/L, W/L)``: the domain size in units of L."""
        return self.H / self.L, self.W / self.L

    def coords(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(Y, X)``, each ``(H, W)`` float32, in units of L."""
        y = torch.arange(self.H, device=self.device, dtype=torch.float32) / self.L
        x = torch.arange(self.W, device=self.device, dtype=torch.float32) / self.L
        Y, X = torch.meshgrid(y, x, indexing="ij")
        return Y, X

    def wavenumbers(self, *, full: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ky, kx)`` float64 grids in cycles per L, shape ``(H, W//2+1)`` (``(H, W)`` with ``full``)."""
        ky = torch.fft.fftfreq(self.H, d=1.0 / self.L, dtype=torch.float64, device=self.device)
        if full:
            kx = torch.fft.fftfreq(self.W, d=1.0 / self.L, dtype=torch.float64, device=self.device)
        else:
            kx = torch.fft.rfftfreq(self.W, d=1.0 / self.L, dtype=torch.float64, device=self.device)
        KY, KX = torch.meshgrid(ky, kx, indexing="ij")
        return KY, KX

    def radial_wavenumber(self) -> torch.Tensor:
        """|k| on the rfft grid, ``(H, W//2+1)`` float64, cycles per L."""
        KY, KX = self.wavenumbers()
        return torch.sqrt(KY**2 + KX**2)

    def rfft_weights(self) -> torch.Tensor:
        """``(W//2+1,)`` multiplicities of rfft columns in the full spectrum (2 for paired columns)."""
        w = torch.full((self.W // 2 + 1,), 2.0, dtype=torch.float64, device=self.device)
        w[0] = 1.0
        if self.W % 2 == 0:
            w[-1] = 1.0
        return w

    # -- Gaussian random fields -----------------------------------------------------------------------

    def amplitude(self, power: torch.Tensor, variance: float | torch.Tensor = 1.0) -> torch.Tensor:
        """Filter amplitude ``A = √(variance·H·W·P/ΣP)`` on the rfft grid, DC removed, float32.

        ``power`` is ``(..., H, W//2+1)`` (any leading batch dims); the sum runs over the full spectrum.
        """
        power = power.to(torch.float64).clone()
        power[..., 0, 0] = 0.0
        total = (power * self.rfft_weights()).sum(dim=(-2, -1), keepdim=True)
        total = torch.where(total > 0, total, torch.ones_like(total))
        var = torch.as_tensor(variance, dtype=torch.float64, device=self.device)
        if var.ndim:
            var = var.reshape(*var.shape, 1, 1)
        return torch.sqrt(var * self.H * self.W * power / total).to(torch.float32)

    def filter_noise(self, noise: torch.Tensor, amplitude: torch.Tensor) -> torch.Tensor:
        """``irfft2(rfft2(noise)·amplitude)`` with orthonormal FFTs; noise ``(..., H, W)``."""
        spectrum = rfft2(noise, norm="ortho") * amplitude
        return irfft2(spectrum, (self.H, self.W), norm="ortho")

    def gaussian_field(
        self, n: int, power: torch.Tensor, variance: float | torch.Tensor = 1.0
    ) -> torch.Tensor:
        """``(B, n, H, W)`` zero-mean Gaussian fields with spectrum ``power`` (rfft grid) and given variance."""
        noise = self.normal(n, self.H, self.W)
        return self.filter_noise(noise, self.amplitude(power, variance))

    def grf(self, n: int, length_scale: float, variance: float = 1.0) -> torch.Tensor:
        """``(B, n, H, W)`` GRFs with squared-exponential covariance ``variance·exp(−r²/(2ℓ²))``."""
        return self.gaussian_field(n, gaussian_power(self.radial_wavenumber(), length_scale), variance)

    def smooth(self, fields: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        """Periodic Gaussian blur (σ in units of L) of ``(..., H, W)`` fields, preserving the mean."""
        k = self.radial_wavenumber()
        s = torch.as_tensor(sigma, dtype=torch.float64, device=self.device)
        if s.ndim:
            s = s.reshape(*s.shape, 1, 1)
        kernel = torch.exp(-2.0 * math.pi**2 * s**2 * k**2).to(torch.float32)
        return irfft2(rfft2(fields) * kernel, (self.H, self.W))


def _batched_planes(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Apply a 2-D FFT to ``(..., h, w)`` as a batch of at least two planes.

    Some FFT backends (MKL on CPU) transform a lone plane with a different algorithm than a batch of planes,
    so a sample generated alone would differ in the last bits from the same sample in a batch. A zero plane
    is appended when there is only one, so every plane always goes through the batched path.
    """
    lead = x.shape[:-2]
    planes = x.reshape(-1, *x.shape[-2:])
    if planes.shape[0] == 1:
        out = fn(torch.cat([planes, torch.zeros_like(planes)]))[:1]
    else:
        out = fn(planes)
    return out.reshape(*lead, *out.shape[-2:])


def rfft2(x: torch.Tensor, norm: str = "backward") -> torch.Tensor:
    """``torch.fft.rfft2`` over the last two dims, batch independent (see :func:`_batched_planes`)."""
    return _batched_planes(lambda p: torch.fft.rfft2(p, norm=norm), x)


def irfft2(x: torch.Tensor, s: tuple[int, int], norm: str = "backward") -> torch.Tensor:
    """``torch.fft.irfft2`` over the last two dims with output size ``s``, batch independent."""
    return _batched_planes(lambda p: torch.fft.irfft2(p, s=s, norm=norm), x)


def gaussian_power(k: torch.Tensor, length_scale: float | torch.Tensor) -> torch.Tensor:
    """Spectrum of the squared-exponential covariance exp(−r²/(2ℓ²)): ``exp(−2π²ℓ²k²)`` (k in cycles/L)."""
    return torch.exp(-2.0 * math.pi**2 * torch.as_tensor(length_scale, dtype=torch.float64) ** 2 * k**2)


def matern_power(k: torch.Tensor, length_scale: float, nu: float) -> torch.Tensor:
    """2-D Matérn spectrum ``(1/ℓ² + 4π²k²)^−(ν+1)``, normalised to 1 at k = 0."""
    return (1.0 + 4.0 * math.pi**2 * length_scale**2 * k**2) ** (-(nu + 1.0))


def complex_channels(psi_re: torch.Tensor, psi_im: torch.Tensor, channels: int) -> torch.Tensor:
    """Channels of a complex field ``(B, H, W)``: Re ψ, Im ψ, |ψ|², then Re(ψ·e^{−iθ_c}), θ_c golden angles."""
    out = []
    for c in range(channels):
        if c == 0:
            out.append(psi_re)
        elif c == 1:
            out.append(psi_im)
        elif c == 2:
            out.append(psi_re**2 + psi_im**2)
        else:
            theta = c * GOLDEN_ANGLE
            out.append(psi_re * math.cos(theta) + psi_im * math.sin(theta))
    return torch.stack(out, dim=1)


def soft_step(d: torch.Tensor, width: float | torch.Tensor) -> torch.Tensor:
    """``½(1 + tanh(d / width))``."""
    return 0.5 * (1.0 + torch.tanh(d / width))


class Generator(abc.ABC):
    """Base class: holds the config, validates a call, builds the :class:`Context` and runs ``_generate``.

    Subclasses implement ``_generate(ctx) -> (fields, info)``; ``info`` holds the drawn parameters (tensors
    with a leading batch dimension) for tests and diagnostics. ``sample(...)`` returns both.
    """

    def __init__(self, config: Any) -> None:
        self.config = config

    def __call__(
        self,
        seeds: Sequence[int],
        *,
        channels: int,
        height: int,
        width: int,
        device: str | torch.device = "cpu",
    ) -> torch.Tensor:
        fields, _ = self.sample(seeds, channels=channels, height=height, width=width, device=device)
        return fields

    def sample(
        self,
        seeds: Sequence[int],
        *,
        channels: int,
        height: int,
        width: int,
        device: str | torch.device = "cpu",
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The fields and the per-sample parameters that were drawn for them."""
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        if height < 4 or width < 4:
            raise ValueError(f"the grid must be at least 4×4, got {height}×{width}")
        ctx = Context(seeds, channels, height, width, device)
        if ctx.B == 0:
            return torch.empty((0, channels, height, width), device=ctx.device), {}
        with torch.no_grad():
            fields, info = self._generate(ctx)
        fields = fields.to(torch.float32).contiguous()
        if fields.shape != (ctx.B, ctx.C, ctx.H, ctx.W):  # pragma: no cover - a generator bug
            raise RuntimeError(f"{type(self).__name__} produced {tuple(fields.shape)}")
        return fields, info

    @abc.abstractmethod
    def _generate(self, ctx: Context) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(batch, channels, height, width)`` fields for ``ctx`` and the parameters drawn per sample."""


def pick(u: torch.Tensor, n: int) -> torch.Tensor:
    """Uniform draws in [0, 1) → integer choices in ``[0, n)`` (long tensor)."""
    return torch.clamp((u * n).long(), max=n - 1)


def per_channel(values: Callable[[int], torch.Tensor], channels: int) -> torch.Tensor:
    """Stack ``values(c)`` for every channel along dim 1."""
    return torch.stack([values(c) for c in range(channels)], dim=1)
