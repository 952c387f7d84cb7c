"""Training the evaluation classifier (stages.models.featurenet) and measuring its accuracy.

The recipe: SGD with Nesterov momentum, a one-cycle lr, reflect-padded random crops and
horizontal flips drawn from a seeded CPU generator (the same draws on any device).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor
from tqdm import tqdm

from stages.core.schema import FeaturenetConfig
from stages.data.dataset import ImageSet
from stages.data.images import to_signed_unit
from stages.models.featurenet import FeatureNet


def train_featurenet(
    cfg: FeaturenetConfig, train: ImageSet, device: torch.device, progress: bool = True
) -> FeatureNet:
    """SGD with Nesterov momentum and a one-cycle lr, crop+flip augmentation on the device."""
    torch.manual_seed(cfg.seed)
    model = FeatureNet(len(train.classes), cfg.width, tuple(cfg.convs)).to(
        device, memory_format=torch.channels_last
    )
    steps_per_epoch = len(train) // cfg.batch_size
    total = steps_per_epoch * cfg.epochs
    optimizer = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay
    )
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=cfg.lr, total_steps=total, pct_start=0.25
    )
    rng = torch.Generator().manual_seed(cfg.seed)
    images, labels = train.images.to(device), train.labels.to(device)
    bar = tqdm(total=total, desc="featurenet", disable=not progress, mininterval=2.0)
    model.train()
    for _ in range(cfg.epochs):
        order = torch.randperm(len(train), generator=rng).to(device)
        for i in range(steps_per_epoch):
            index = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            x = random_crop_flip(to_signed_unit(images[index]), 4, rng)
            loss = F.cross_entropy(model(x.contiguous(memory_format=torch.channels_last)), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.update(1)
            if i % 50 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    return model.eval()


@torch.inference_mode()
def accuracy(model: FeatureNet, data: ImageSet, device: torch.device, batch_size: int = 500) -> float:
    correct = 0
    for start in range(0, len(data), batch_size):
        x = data.images[start : start + batch_size].to(device)
        correct += int((model(x).argmax(1).cpu() == data.labels[start : start + batch_size]).sum())
    return correct / len(data)


def random_crop_flip(images: Tensor, pad: int, generator: torch.Generator) -> Tensor:
    """Random translation by up to `pad` pixels (reflect-padded crop) and horizontal flip.

    images: (N, C, H, W) float. Offsets and flips come from `generator` (CPU), so a seed
    fixes them on any device. pad=0 and no flips is the identity.
    """
    n, _, h, w = images.shape
    device = images.device
    flip = torch.rand(n, generator=generator) < 0.5
    images = torch.where(flip.to(device)[:, None, None, None], images.flip(3), images)
    if pad == 0:
        return images
    padded = F.pad(images, (pad, pad, pad, pad), mode="reflect")
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(device)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(device)
    rows = (oy[:, None] + torch.arange(h, device=device))[:, None, :, None]  # (N, 1, H, 1)
    cols = (ox[:, None] + torch.arange(w, device=device))[:, None, None, :]  # (N, 1, 1, W)
    batch = torch.arange(n, device=device)[:, None, None, None]
    chans = torch.arange(images.shape[1], device=device)[None, :, None, None]
    return padded[batch, chans, rows, cols]
