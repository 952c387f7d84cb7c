"""The prepared dataset on disk, in memory, and as batches on the training device.

On disk (`data/prepared/<name>/`): `<split>_images.npy` (N, 3, H, W) uint8,
`<split>_labels.npy` (N,) int64 and `meta.json` (classes, counts, sha256 of each array).
Images stay uint8 until a batch is taken; scaling to [-1, 1] is x / 127.5 - 1, the
CIFAR scaling of the GAN-101 deck.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from stages.core.device import host_to_device
from stages.core.errors import UserError
from stages.core.io import atomic_path, read_json, sha256_file, write_json
from stages.data.images import to_signed_unit
from stages.data.readers import RawDataset, Split


@dataclass
class ImageSet:
    images: torch.Tensor  # (N, 3, H, W) uint8
    labels: torch.Tensor  # (N,) int64
    classes: list[str]

    def __len__(self) -> int:
        return self.images.shape[0]

    def to(self, device: torch.device) -> ImageSet:
        return ImageSet(self.images.to(device), self.labels.to(device), self.classes)


def save_prepared(dataset: RawDataset, out_dir: str | Path, extra_meta: dict) -> None:
    """Write the dataset atomically: the folder appears whole or not at all."""
    out_dir = Path(out_dir)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        meta = {"classes": dataset.classes, "layout": dataset.layout, "splits": {}, **extra_meta}
        for split, data in sorted(dataset.splits.items()):
            np.save(tmp / f"{split}_images.npy", np.ascontiguousarray(data.images, dtype=np.uint8))
            np.save(tmp / f"{split}_labels.npy", np.ascontiguousarray(data.labels, dtype=np.int64))
            meta["splits"][split] = {
                "count": int(data.images.shape[0]),
                "per_class": np.bincount(data.labels, minlength=len(dataset.classes)).tolist(),
                "shape": list(data.images.shape[1:]),
                "images_sha256": sha256_file(tmp / f"{split}_images.npy"),
                "labels_sha256": sha256_file(tmp / f"{split}_labels.npy"),
            }
        write_json(tmp / "meta.json", meta)


def save_train_split(data: ImageSet, out_dir: str | Path, layout: str, extra_meta: dict) -> None:
    """One training split in the prepared format, so load_prepared(out_dir, "train") reads it."""
    split = Split(data.images.numpy(), data.labels.numpy())
    save_prepared(RawDataset({"train": split}, data.classes, layout), out_dir, extra_meta)


def load_prepared(data_dir: str | Path, split: str) -> ImageSet:
    """Load one split of a prepared dataset as CPU tensors."""
    data_dir = Path(data_dir)
    meta = read_json(data_dir / "meta.json")
    if split not in meta["splits"]:
        raise UserError(f"{data_dir}: no split {split!r} (have {sorted(meta['splits'])})")
    images = np.load(data_dir / f"{split}_images.npy")
    labels = np.load(data_dir / f"{split}_labels.npy")
    return ImageSet(torch.from_numpy(images), torch.from_numpy(labels), list(meta["classes"]))


def dataset_fingerprint(data_dir: str | Path) -> str:
    """The sha256 of the training images, as recorded by prepare (cheap: no re-hashing)."""
    return read_json(Path(data_dir) / "meta.json")["splits"]["train"]["images_sha256"]


class BatchSampler:
    """Shuffled batches of a device-resident ImageSet, epoch after epoch.

    Each epoch is one permutation from a seeded CPU generator, so every index comes once
    per epoch and the same seed gives the same order on every machine. The permutation is
    copied to the device once per epoch and batches are sliced there: no host work or
    copy per step. With `world` ranks, each global batch of `batch_size` is split and rank
    `rank` takes its share (all ranks hold the same permutation). state_dict() and
    load_state_dict() let an interrupted run continue with exactly the batches it would
    have seen.
    """

    def __init__(self, data: ImageSet, batch_size: int, seed: int, rank: int = 0, world: int = 1) -> None:
        if batch_size > len(data):
            raise UserError(f"train.batch_size={batch_size} exceeds the {len(data)} training images")
        self.data = data
        self.batch_size = batch_size
        self.rank_batch = batch_size // world
        self.rank = rank
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0
        self._set_order(torch.randperm(len(data), generator=self.generator))
        self.position = 0

    def _set_order(self, order: torch.Tensor) -> None:
        self.order = order
        self._order_on_device = host_to_device(order, self.data.images.device)

    def next_index(self) -> torch.Tensor:
        """This rank's indices of the next global batch (on the data's device); the last
        partial batch of an epoch is dropped."""
        if self.position + self.batch_size > len(self.order):
            self._set_order(torch.randperm(len(self.data), generator=self.generator))
            self.position = 0
            self.epoch += 1
        first = self.position + self.rank * self.rank_batch
        self.position += self.batch_size
        return self._order_on_device[first : first + self.rank_batch]

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Next (images in [-1, 1], labels) of this rank."""
        index = self.next_index()
        return to_signed_unit(self.data.images[index]), self.data.labels[index]

    def state_dict(self) -> dict:
        return {
            "generator": self.generator.get_state(),
            "order": self.order,
            "position": self.position,
            "epoch": self.epoch,
        }

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self._set_order(state["order"])
        self.position = int(state["position"])
        self.epoch = int(state["epoch"])
