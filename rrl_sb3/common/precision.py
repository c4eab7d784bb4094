"""Compute precision: whether a device runs bfloat16 natively, and the autocast context of the ``precision`` option.

bf16 matrix products are several times faster than float32 ones only on hardware with bf16 units: Intel CPUs with AMX
or AVX512-BF16, and CUDA GPUs from Ampere on. Elsewhere they are emulated and slower, so ``precision="auto"`` picks bf16
only where :func:`native_bf16` says so.

Example:
    >>> import torch as th
    >>> from rrl_sb3.common.precision import PRECISIONS, compute_dtype
    >>> PRECISIONS
    ('fp32', 'bf16', 'auto')
    >>> compute_dtype("fp32", th.device("cpu"))
    torch.float32
    >>> compute_dtype("bf16", th.device("cpu"))
    torch.bfloat16
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Iterator
from pathlib import Path

import torch as th

PRECISIONS = ("fp32", "bf16", "auto")

_CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def _cpuinfo_field(name: str) -> str | None:
    """The value of the first ``name`` line of ``/proc/cpuinfo`` (Linux), ``None`` where it cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    line = next((line for line in text.splitlines() if line.startswith(name)), "")
    return line.partition(":")[2].strip()


def cpu_bf16_units() -> list[str]:
    """The CPU's native bf16 instruction sets (``amx_bf16``, ``avx512_bf16``); empty where it has none or they cannot
    be read (non-Linux systems are asked through torch)."""
    flags = set((_cpuinfo_field("flags") or "").split())
    if flags:
        return [flag for flag in _CPU_BF16_FLAGS if flag in flags]
    probes = (("amx_bf16", "_is_amx_tile_supported"), ("avx512_bf16", "_is_avx512_bf16_supported"))
    return [name for name, probe in probes if getattr(th.cpu, probe, lambda: False)()]


def cpu_model() -> str:
    """The CPU's model name (``lscpu``'s "Model name"), or the platform's processor string."""
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def native_bf16(device: th.device) -> bool:
    """Whether ``device`` computes bf16 matrix products natively (faster than float32)."""
    if device.type == "cuda":
        return th.cuda.is_available() and th.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return bool(cpu_bf16_units())
    return False


def compute_dtype(precision: str, device: th.device) -> th.dtype:
    """The dtype of the matrix products for ``precision`` (``"fp32"``, ``"bf16"``, or ``"auto"``: bf16 where the
    device runs it natively, else float32)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got precision={precision!r}")
    if precision == "auto":
        return th.bfloat16 if native_bf16(device) else th.float32
    return th.bfloat16 if precision == "bf16" else th.float32


@contextlib.contextmanager
def autocast(device: th.device, dtype: th.dtype) -> Iterator[None]:
    """Matrix products (and what follows them up to the next float32 cast) in ``dtype`` inside the block; parameters,
    optimizer state and gradients stay float32. A no-op for float32."""
    if dtype == th.float32:
        yield
        return
    with th.autocast(device_type=device.type, dtype=dtype):
        yield
