"""Device choice and CPU threading, shared by every stage."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from stages.config import Device
from stages.errors import UserError

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


def autocast_for(device: torch.device, amp: bool, cache: bool = True) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when `amp`; nothing elsewhere (CPU bf16 is slower here).
    `cache=False` for code captured in a CUDA graph, as PyTorch requires."""
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=cache)
    return contextlib.nullcontext()


class GraphedStep:
    """A training step recorded once as a CUDA graph, then replayed: one launch per step
    instead of hundreds, for models so small that the host's kernel launches, not the GPU,
    set the pace. Each call's input tensors are copied into the static ones the graph was
    captured with, and the returned tensors are the graph's static outputs, overwritten by
    the next call. The first `warmup` calls run eagerly on a side stream, PyTorch's rule
    before a capture (optimiser state, cuDNN workspaces and the like are made lazily).

    The step may hold no host syncs and no host-drawn randomness; draw inputs outside it."""

    def __init__(self, step: Callable[[list], tuple], warmup: int = 3) -> None:
        self.step = step
        self.warmup = warmup
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_inputs: list[tuple[torch.Tensor, ...]] = []
        self.static_outputs: tuple = ()

    def __call__(self, inputs: list[tuple[torch.Tensor, ...]]) -> tuple:
        if self.warmup > 0:
            self.warmup -= 1
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                outputs = self.step(inputs)
            torch.cuda.current_stream().wait_stream(side)
            return outputs
        if self.graph is None:
            self.static_inputs = [tuple(t.clone() for t in group) for group in inputs]
            self.graph = torch.cuda.CUDAGraph()
            try:
                with torch.cuda.graph(self.graph):  # records the kernels; runs nothing
                    self.static_outputs = self.step(self.static_inputs)
            except RuntimeError as err:  # a host sync or host copy inside the step
                raise UserError(
                    f"train.cuda_graph: the training step cannot be captured as a CUDA graph "
                    f"({str(err).splitlines()[0]}); run it with train.cuda_graph=false"
                ) from err
        else:
            for static, new in zip(self.static_inputs, inputs, strict=True):
                for s, t in zip(static, new, strict=True):
                    s.copy_(t)
        self.graph.replay()
        return self.static_outputs
