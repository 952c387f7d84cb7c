"""Device choice and CPU threading, shared by every stage."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
from pathlib import Path

import torch

from stages.core.errors import UserError
from stages.core.schema import Amp, Device

log = logging.getLogger("device")

_claims: list = []  # open lock files: a claim lasts as long as the process


def resolve_device(choice: Device) -> torch.device:
    """auto -> CUDA when present, else CPU; asking for CUDA without one is an error.
    With several GPUs visible, a lone process claims a free one (claim_gpu), so parallel
    `dvc queue` workers each train on a GPU of their own."""
    if choice == Device.cuda and not torch.cuda.is_available():
        raise UserError("device=cuda but no CUDA device is visible (use device=auto or cpu)")
    if choice == Device.cpu or not torch.cuda.is_available():
        return torch.device("cpu")
    count = torch.cuda.device_count()
    if count > 1 and "LOCAL_RANK" not in os.environ:  # torchrun ranks get theirs from it
        index = claim_gpu(count)
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return torch.device("cuda")


def claim_gpu(count: int, lock_dir: str | Path | None = None) -> int:
    """Index of the first of `count` GPUs that no other ganrepro process holds, held by an
    exclusive lock on <tmp>/ganrepro-gpu-<i>.lock until this process exits (the OS drops
    the lock of a dead process). All taken: GPU 0, shared, with a warning."""
    lock_dir = Path(lock_dir or tempfile.gettempdir())
    for index in range(count):
        handle = open(lock_dir / f"ganrepro-gpu-{index}.lock", "w")  # noqa: SIM115 (held open)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _claims.append(handle)
        return index
    log.warning("all %d GPUs are claimed by other ganrepro processes: sharing GPU 0", count)
    return 0


def set_threads(num_threads: int = 0) -> int:
    """Use every core (or num_threads) for intra-op work, shared among the processes of
    one torchrun node; returns the count in use."""
    if num_threads > 0:
        count = num_threads
    elif hasattr(os, "sched_getaffinity"):
        count = len(os.sched_getaffinity(0))  # the cores this process may use (containers)
    else:
        count = os.cpu_count() or 1
    count = max(1, count // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    torch.set_num_threads(count)
    return count


def host_to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A small CPU tensor (random draws, indices) onto `device` without stalling the host.
    On CUDA it goes through pinned memory with non_blocking: a plain copy from pageable
    memory waits for the stream to drain, a host sync on every training step."""
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def bf16_native(device: torch.device) -> bool:
    """Whether bf16 matrix arithmetic is native here: CUDA, or a CPU with AMX or AVX-512 BF16."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    capability = torch.backends.cpu.get_cpu_capability()
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    return capability == "AVX512" and ("amx_bf16" in flags or "avx512_bf16" in flags)


def uses_bf16(device: torch.device, amp: Amp) -> bool:
    """Whether train.amp puts `device` under bf16 autocast: `cuda` on CUDA only, `auto`
    also on CPUs with native bf16 (elsewhere CPU bf16 is emulated and slower than fp32)."""
    if amp == Amp.cuda:
        return device.type == "cuda"
    return amp == Amp.auto and bf16_native(device)


def arithmetic(device: torch.device, amp: Amp) -> str:
    """The arithmetic a training run used, for its summary and protocol."""
    return "bf16 autocast" if uses_bf16(device, amp) else "fp32"


def autocast_for(device: torch.device, amp: Amp, cache: bool = True) -> contextlib.AbstractContextManager:
    """bf16 autocast where `uses_bf16` says so; nothing elsewhere.
    `cache=False` for code captured in a CUDA graph, as PyTorch requires."""
    if uses_bf16(device, amp):
        return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=cache)
    return contextlib.nullcontext()
