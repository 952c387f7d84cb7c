"""Device choice and CPU threading, shared by every stage."""

from __future__ import annotations

import os

import torch

from stages.config import Device
from stages.errors import UserError


def resolve_device(choice: Device) -> torch.device:
    """auto -> CUDA when present, else CPU; asking for CUDA without one is an error."""
    if choice == Device.cuda and not torch.cuda.is_available():
        raise UserError("device=cuda but no CUDA device is visible (use device=auto or cpu)")
    if choice == Device.cpu or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


def set_threads(num_threads: int = 0) -> int:
    """Use every core (or num_threads) for intra-op work; returns the count in use."""
    if num_threads > 0:
        count = num_threads
    elif hasattr(os, "sched_getaffinity"):
        count = len(os.sched_getaffinity(0))  # the cores this process may use (containers)
    else:
        count = os.cpu_count() or 1
    torch.set_num_threads(count)
    return count
