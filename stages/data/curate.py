"""What the `outliers` and `trainset` stages do to the training set, as plain functions:
autoencoder outlier scores, the images to keep, the user's extra images, oversampling.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from stages.core.errors import UserError
from stages.core.schema import OutliersConfig
from stages.data.dataset import ImageSet
from stages.data.images import to_signed_unit
from stages.data.readers import IMAGE_SUFFIXES, decode_image
from stages.models.autoencoder import ConvAutoencoder

# ---------------------------------------------------------------- outlier filtering


def train_autoencoder(
    cfg: OutliersConfig,
    data: ImageSet,
    device: torch.device,
    resume: dict | None = None,
    on_epoch=None,  # noqa: ANN001  (callable(epoch, state) saving a checkpoint)
    progress: bool = True,
) -> ConvAutoencoder:
    """Adam on the mean squared reconstruction error, seeded; `resume` is a state passed
    to `on_epoch` by an earlier, interrupted run."""
    torch.manual_seed(cfg.seed)
    model = ConvAutoencoder(data.images.shape[1], cfg.width).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    rng = torch.Generator().manual_seed(cfg.seed)
    first_epoch = 0
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        rng.set_state(resume["rng"])
        first_epoch = resume["epoch"]
    images = data.images.to(device)
    batch = min(cfg.batch_size, len(data))
    steps = len(data) // batch
    bar = tqdm(
        total=steps * cfg.epochs, initial=steps * first_epoch, desc="autoencoder", disable=not progress
    )
    model.train()
    for epoch in range(first_epoch, cfg.epochs):
        order = torch.randperm(len(data), generator=rng).to(device)
        for i in range(steps):
            x = to_signed_unit(images[order[i * batch : (i + 1) * batch]])
            loss = F.mse_loss(model(x), x)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            bar.update(1)
        bar.set_postfix(mse=f"{loss.item():.4f}")
        if on_epoch is not None:
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
            on_epoch(epoch + 1, {**state, "rng": rng.get_state(), "epoch": epoch + 1})
    bar.close()
    return model.eval()


@torch.inference_mode()
def reconstruction_errors(
    model: ConvAutoencoder, data: ImageSet, device: torch.device, batch_size: int = 500
) -> torch.Tensor:
    """Mean squared error of each image's reconstruction, (N,) float64 on the CPU."""
    model.eval().to(device)
    errors = []
    for start in range(0, len(data), batch_size):
        x = to_signed_unit(data.images[start : start + batch_size].to(device))
        errors.append((model(x) - x).pow(2).flatten(1).mean(1).double().cpu())
    return torch.cat(errors)


def keep_mask(errors: torch.Tensor, fraction: float) -> torch.Tensor:
    """True for the images kept: all but the floor(fraction * N) highest errors (ties go to
    the later index, so the choice is the same on every machine)."""
    drop = math.floor(fraction * len(errors))
    keep = torch.ones(len(errors), dtype=torch.bool)
    if drop:
        order = torch.argsort(errors, descending=True, stable=True)
        keep[order[:drop]] = False
    return keep


def class_counts(labels: torch.Tensor, classes: list[str]) -> dict[str, int]:
    counts = torch.bincount(labels, minlength=len(classes)).tolist()
    return {name: int(n) for name, n in zip(classes, counts, strict=True)}


# ---------------------------------------------------------------- the user's extra images


def class_index(classes: list[str], name: str, key: str) -> int:
    if name not in classes:
        raise UserError(f"{key}={name!r} is not a class of this dataset ({', '.join(classes)})")
    return classes.index(name)


def read_image_folder(folder: str | Path, size: int) -> np.ndarray:
    """Every image file in `folder` (sorted by name), as (N, 3, size, size) uint8."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"extra.images={str(folder)!r}: no such folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UserError(f"extra.images={str(folder)!r}: the folder has no image files")
    return np.stack([decode_image(p.read_bytes(), str(p), size) for p in files])


# ---------------------------------------------------------------- oversampling


def oversample_indices(
    labels: torch.Tensor, n_classes: int, target: int, balance: bool, seed: int
) -> torch.Tensor:
    """Indices into the training set, drawn with a seeded generator.

    Without balance: every index once, then target - N drawn with replacement.
    With balance: each class gets target // n_classes (the first target % n_classes classes
    one more; target 0 = the largest class's count): a class with more images is
    subsampled without replacement, one with fewer keeps all and draws the rest."""
    rng = torch.Generator().manual_seed(seed)
    n = len(labels)
    if not balance:
        if target < n:
            raise UserError(
                f"oversample.target={target} is below the {n} training images "
                "(set it higher, or oversample.balance=true to resample each class)"
            )
        return torch.cat([torch.arange(n), torch.randint(n, (target - n,), generator=rng)])
    counts = torch.bincount(labels, minlength=n_classes)
    if (counts == 0).any():
        empty = int(torch.nonzero(counts == 0)[0])
        raise UserError(f"oversample.balance=true: class {empty} has no training images")
    if target == 0:
        target = int(counts.max()) * n_classes
    if target < n_classes:
        raise UserError(f"oversample.target={target} gives fewer than one image per class")
    chosen = []
    for cls in range(n_classes):
        members = torch.nonzero(labels == cls).flatten()
        want = target // n_classes + (1 if cls < target % n_classes else 0)
        if want <= len(members):
            chosen.append(members[torch.randperm(len(members), generator=rng)[:want]].sort().values)
        else:
            extra = members[torch.randint(len(members), (want - len(members),), generator=rng)]
            chosen.append(torch.cat([members, extra]))
    return torch.cat(chosen)
