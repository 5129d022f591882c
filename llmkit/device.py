"""Device and precision: where a model runs, in which number format, and how fast that hardware can
multiply (for MFU).

Precision follows the hardware: bf16 only where it is native (GPUs from Ampere on; CPUs with
AVX512-BF16 or AMX). On a CPU without it a bf16 matmul is emulated and roughly 80x slower than fp32,
so `auto` resolves to fp32 there and nothing else may pick bf16 behind the user's back.
"""

from __future__ import annotations

import os
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from llmkit.errors import UserError


def resolve_device(name: str = "auto", local_rank: int | None = None) -> torch.device:
    """`auto`: this process's GPU if CUDA is available, else the CPU. The process's GPU (for `auto` and
    a bare `cuda`) is `local_rank`'s, by default LOCAL_RANK's (set by torchrun and `launch`, else 0),
    so every model a rank loads (policy, reference, reward model, teacher) lands on that rank's GPU."""
    if local_rank is None:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if name == "auto":
        name = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: CUDA is not available on this machine")
    if name == "cuda":
        name = f"cuda:{local_rank}"
    try:
        return torch.device(name)
    except RuntimeError as e:
        raise UserError(f"--device {name!r} is not a device (use auto, cpu, cuda or cuda:N)") from e


def resolve_precision(precision: str, device: torch.device) -> str:
    """`auto`: bf16 on GPUs with bf16 tensor cores (compute capability 8.0 on: Ampere, Ada, Hopper) and
    on CPUs with native bf16 (AVX512-BF16 or AMX), else fp32. Not `torch.cuda.is_bf16_supported()`:
    it also says yes where bf16 is only emulated (V100, T4), and asks the current GPU, not `device`."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.get_device_capability(device)[0] >= 8 else "fp32"
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "fp32"
    return "bf16" if ("avx512_bf16" in flags or "amx_bf16" in flags) else "fp32"


def compute_dtype(precision: str) -> torch.dtype:
    """The dtype a resolved precision (`bf16` or `fp32`) computes in: bfloat16 or float32."""
    return torch.bfloat16 if precision == "bf16" else torch.float32


def autocast(device: torch.device, precision: str):
    """bf16 autocast (matmuls in bf16, master weights and reductions in fp32), or nothing for fp32."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


# Datasheet dense bf16 tensor-core peaks (FLOP/s), matched in this order against
# torch.cuda.get_device_name() (so "H100 PCIe" and "H100 NVL" before the SXM card's "H100"). No V100:
# it has no bf16.
GPU_BF16_PEAK = {"H200": 989e12, "H100 PCIe": 756e12, "H100 NVL": 835e12, "H100": 989e12, "A100": 312e12,
                 "L40S": 362e12, "A10G": 70e12, "L4": 121e12, "4090": 165e12, "3090": 71e12}  # fmt: skip
_measured_peaks: dict[tuple, float] = {}


def peak_flops(device: torch.device, precision: str) -> tuple[float | None, str]:
    """(FLOP/s, where it comes from) for MFU: a measured matmul peak on CPU (cached per process), the
    datasheet bf16 value on a known GPU, or (None, ...) when unknown."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, value in GPU_BF16_PEAK.items():
            if key in name and precision == "bf16":
                return value, f"datasheet {name} bf16"
        return None, f"unknown for {name} {precision} (pass --peak-flops)"
    dtype = compute_dtype(precision)
    key = (dtype, torch.get_num_threads())
    if key not in _measured_peaks:
        _measured_peaks[key] = measure_matmul_flops(dtype)
    return _measured_peaks[key], f"measured {precision} matmul, {torch.get_num_threads()} threads"


def measure_matmul_flops(
    dtype: torch.dtype, n: int = 2048, seconds: float = 0.5, device: torch.device | None = None
) -> float:
    """FLOP/s of n×n @ n×n matmuls in `dtype` on `device` (default the CPU): the best of several timed
    repeats. On a GPU each product is waited for, so the time is the kernel's, not its launch's."""
    device = device or torch.device("cpu")
    wait = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    a, b = (torch.randn(n, n, dtype=dtype, device=device) for _ in range(2))
    a @ b  # warm-up (and, on a GPU, the library's start)
    wait()
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t = time.perf_counter()
        a @ b
        wait()
        best = max(best, 2 * n**3 / (time.perf_counter() - t))
    return best


def device_name(device: torch.device) -> str:
    """What a benchmark record calls the hardware: the GPU's name, or the CPU's model."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()


def cpu_model() -> str:
    """The CPU's model name (for benchmark records), from /proc/cpuinfo or the platform module."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"
