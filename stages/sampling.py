"""Sampling from a trained generator, and the sample grids people look at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision.utils import make_grid

from stages.data.dataset import to_uint8
from stages.io import atomic_path, load_torch
from stages.models import build_gan


def fixed_noise(count: int, latent_dim: int, seed: int) -> torch.Tensor:
    """The same z (count, latent_dim) for a seed on every machine (drawn on the CPU)."""
    return torch.randn(count, latent_dim, generator=torch.Generator().manual_seed(seed + 12345))


@torch.inference_mode()
def sample_images(
    generator: nn.Module, z: torch.Tensor, device: torch.device, batch_size: int = 500
) -> torch.Tensor:
    """Generate uint8 images (N, 3, H, W) from z, in batches, on `device`."""
    generator.eval().to(device)
    out = [to_uint8(generator(chunk.to(device))).cpu() for chunk in z.split(batch_size)]
    return torch.cat(out)


def generated_batches(
    generator: nn.Module,
    count: int,
    latent_dim: int,
    seed: int,
    device: torch.device,
    batch_size: int,
) -> Iterator[torch.Tensor]:
    """Yield `count` uint8 samples in batches, seeded, generated on `device`."""
    rng = torch.Generator().manual_seed(seed)
    generator.eval().to(device)
    for start in range(0, count, batch_size):
        n = min(batch_size, count - start)
        z = torch.randn(n, latent_dim, generator=rng)
        with torch.inference_mode():
            yield to_uint8(generator(z.to(device)))


def save_grid(images: torch.Tensor, path: str | Path, nrow: int) -> None:
    """uint8 (N, 3, H, W) to one PNG grid, nrow images per row, 2 px black padding."""
    grid = make_grid(images, nrow=nrow, padding=2, pad_value=0)
    array = grid.permute(1, 2, 0).numpy().astype(np.uint8)
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")


def load_generator(path: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild a generator saved by the train stage; returns (generator in eval mode, info)."""
    info = load_torch(path)
    generator, _ = build_gan(info["arch"], info["latent_dim"], info["image_size"])
    generator.load_state_dict(info["state_dict"])
    return generator.eval(), info
