"""Image tensors in and out: pixel scaling, and the PNG grids people look at.

Images are uint8 (N, 3, H, W) on disk and in memory; networks see float in [-1, 1]
(x / 127.5 - 1, the CIFAR scaling of the GAN-101 course slides), style transfer [0, 1].
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torchvision.utils import make_grid

from stages.core.io import atomic_path


def to_signed_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) in [0, 255] to float in [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor, low: float = -1.0) -> torch.Tensor:
    """float in [low, 1] ([-1, 1] for GAN outputs, [0, 1] with low=0) to uint8 in [0, 255],
    clamped and rounded to nearest."""
    scale = 255 / (1 - low)
    return ((images.float().clamp(low, 1) - low) * scale).round_().to(torch.uint8)


def channels_first(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 array -> (N, 3, H, W) uint8 tensor (a view: no copy)."""
    return torch.from_numpy(images).permute(0, 3, 1, 2)


def png_bytes(image: torch.Tensor) -> bytes:
    """One uint8 (3, H, W) image as PNG file bytes."""
    buffer = io.BytesIO()
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(buffer, format="PNG")
    return buffer.getvalue()


def save_grid(images: torch.Tensor, path: str | Path, nrow: int, row_names: list[str] | None = None) -> None:
    """uint8 (N, 3, H, W) to one PNG grid, nrow images per row, 2 px black padding; with
    `row_names`, a white margin on the left names each row (e.g. the class)."""
    grid = make_grid(images, nrow=nrow, padding=2, pad_value=0)
    picture = Image.fromarray(grid.permute(1, 2, 0).numpy().astype(np.uint8))
    if row_names:
        font = ImageFont.load_default_imagefont()  # bitmap font: the same pixels everywhere
        margin = 8 + max(int(font.getlength(name)) for name in row_names)
        labelled = Image.new("RGB", (picture.width + margin, picture.height), "white")
        labelled.paste(picture, (margin, 0))
        draw = ImageDraw.Draw(labelled)
        row_height = images.shape[-2] + 2
        for i, name in enumerate(row_names):
            draw.text((4, 2 + i * row_height + row_height // 2 - 6), name, fill="black", font=font)
        picture = labelled
    with atomic_path(path) as tmp:
        picture.save(tmp, format="PNG")
