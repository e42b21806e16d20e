"""What a training run runs on: the CPU's bfloat16 instructions decide the precision.

``bf16: auto`` (a config option) trains under ``torch.autocast("cpu", bfloat16)`` only where
the CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16). Elsewhere PyTorch emulates it:
a width-16 U-Net training step (batch 8 of 192 x 192) took 1.60 s in bfloat16 against 0.55 s
in float32 on an AVX-512 Xeon without these instructions (``benchmarks/speed_models.py``),
whereas AMX made it 2.2x faster than float32.
"""
from __future__ import annotations

import os
import platform
import warnings
from pathlib import Path

BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_info() -> tuple[str, list[str]]:
    """(model name, bfloat16 instruction sets) of this machine's CPU, from /proc/cpuinfo
    (Linux); elsewhere (platform name, [])."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine(), []
    name = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")),
                platform.processor() or platform.machine())
    flags = next((ln.split(":", 1)[1].split() for ln in lines if ln.startswith("flags")), [])
    return name, [f for f in BF16_FLAGS if f in flags]


def use_bf16(setting: bool | str, device: str) -> bool:
    """Whether a run trains under bfloat16 autocast.

    Parameters
    ----------
    setting : the config's ``bf16``: True, False or "auto" (bfloat16 where the CPU has
        bfloat16 instructions).
    device : "cpu" or "cuda:N" (CUDA always trains under bfloat16 autocast).
    """
    if device.startswith("cuda"):
        return True
    native = bool(cpu_info()[1])
    if setting is True and not native:
        warnings.warn("bf16: true on a CPU without bfloat16 instructions: PyTorch emulates "
                      "them, about 3x slower than float32 here (bf16: auto trains in float32 "
                      "on such CPUs)", stacklevel=2)
    return setting is True or (setting == "auto" and native)


def loader_workers(setting: int | str, device: str, world: int = 1,
                   cpus: int | None = None) -> int:
    """Processes that make training crops beside each training process.

    Parameters
    ----------
    setting : the config's ``num_workers``: a number, or "auto": none on a CPU, where the
        training step needs the cores; on a GPU the process's share of the cores but one, at
        most 8, since there the crops (~26 ms each on one core for 192² with flow targets)
        are the limit, not the step.
    device : "cpu" or "cuda:N".
    world : training processes on this machine (torchrun), which share its cores.
    cpus : cores (default: ``os.cpu_count()``).

    Examples
    --------
    >>> loader_workers("auto", "cpu"), loader_workers("auto", "cuda:0", cpus=16)
    (0, 8)
    >>> loader_workers("auto", "cuda:0", world=4, cpus=16), loader_workers(2, "cpu")
    (3, 2)
    """
    if setting != "auto":
        return int(setting)
    if not device.startswith("cuda"):
        return 0
    share = (cpus or os.cpu_count() or 1) // max(1, world)
    return max(0, min(8, share - 1))


def hardware(device: str, bf16: bool) -> str:
    """What trained a model, for its card: the GPU's name, or the CPU's and its threads,
    and the precision."""
    import torch
    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(device)}, bfloat16"
    name, _ = cpu_info()
    return (f"{name}, {torch.get_num_threads()} torch threads, "
            f"{'bfloat16' if bf16 else 'float32'}")
