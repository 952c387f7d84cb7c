"""Augmentation on batches of tensors, on whatever device they live (no PIL per image)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


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
