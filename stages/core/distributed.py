"""Several processes through torchrun and DistributedDataParallel (PyTorch's own engine).

A stage asked for `train.nproc_per_node > 1` starts itself again under
`python -m torch.distributed.run --standalone`; each copy then joins the process group
(NCCL on GPUs, gloo on CPU) from the environment torchrun sets. Rank 0 alone writes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist

from stages.core.errors import UserError


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def current() -> Ranks:
    """This process's place in the group (a lone process is rank 0 of 1)."""
    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return Ranks()


def under_torchrun() -> bool:
    return "LOCAL_RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1


def launch(nproc: int, module: str, args: list[str]) -> None:
    """Run `python -m module args` in nproc processes under torchrun; a failed rank fails
    the stage with torchrun's exit code."""
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        module,
        *args,
    ]
    code = subprocess.run(command, check=False).returncode
    if code != 0:
        raise UserError(f"torchrun with train.nproc_per_node={nproc} failed (exit code {code})")


def join(device: torch.device) -> torch.device:
    """Join the group torchrun set up; on CUDA each local rank takes its own GPU."""
    if device.type == "cuda":
        local = int(os.environ["LOCAL_RANK"])
        if local >= torch.cuda.device_count():
            raise UserError(
                f"train.nproc_per_node asks for GPU {local} but {torch.cuda.device_count()} are visible"
            )
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def leave() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def mean_over_ranks(values: torch.Tensor) -> torch.Tensor:
    """The mean of `values` across ranks (SUM then divide: gloo has no AVG)."""
    ranks = current()
    if ranks.world == 1:
        return values
    values = values.clone()
    dist.all_reduce(values)
    return values / ranks.world


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when `flag` is true on one (a Ctrl-C seen by one rank stops all)."""
    if current().world == 1:
        return flag
    value = torch.tensor([float(flag)], device=device)
    dist.all_reduce(value)
    return bool(value.item() > 0)


def gather(obj: object) -> list:
    """Every rank's `obj`, in rank order, on every rank."""
    ranks = current()
    if ranks.world == 1:
        return [obj]
    out: list = [None] * ranks.world
    dist.all_gather_object(out, obj)
    return out


def share_buffers(*modules: torch.nn.Module) -> None:
    """Give every rank rank 0's buffers (batch-norm statistics). DDP syncs them at each
    forward; after the last step each rank holds those of its own batch."""
    if current().world == 1:
        return
    for module in modules:
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def barrier() -> None:
    if current().world > 1:
        dist.barrier()
