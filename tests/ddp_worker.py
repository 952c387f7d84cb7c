"""Run by tests/test_speed.py under `torchrun --nproc_per_node 2`: trains a family on
shapes with gloo three times (straight through; interrupted at step 4; resumed) and saves what
each rank ends with, for the test to compare across ranks and runs."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from stages.core import distributed
from stages.core.schema import compose, validate
from stages.data.dataset import ImageSet
from stages.data.shapes import make_shapes
from stages.gan.loop import Interrupted, train_gan


def main(out: Path, family: str) -> None:
    torch.set_num_threads(1)
    device = distributed.join(torch.device("cpu"))
    rank = distributed.current().rank
    cfg = validate(compose(["data=shapes", "profile=smoke"]))
    train = dataclasses.replace(
        cfg.train, steps=8, batch_size=16, log_every=2, checkpoint_every=100, nproc_per_node=2
    )
    shapes = make_shapes(n_train=96, n_test=8, size=32, seed=3)
    split = shapes.splits["train"]
    data = ImageSet(torch.from_numpy(split.images), torch.from_numpy(split.labels), shapes.classes)
    model = cfg.models[family]

    straight = train_gan(train, model, data, device, progress=False)
    checkpoint = out / "last.pt"
    try:
        train_gan(train, model, data, device, checkpoint, "fp", stop_at=4, progress=False)
    except Interrupted:
        pass
    resumed = train_gan(train, model, data, device, checkpoint, "fp", progress=False)
    torch.save(
        {
            "straight": straight.generator.state_dict(),
            "resumed": resumed.generator.state_dict(),
            "history": straight.history,
            "resumed_history": resumed.history,
        },
        out / f"rank{rank}.pt",
    )
    dist.barrier()
    distributed.leave()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
