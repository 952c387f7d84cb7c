"""A trained CycleGAN's generators: saved and loaded, and translating images with them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from stages.core.io import load_torch, save_torch
from stages.data.domains import to_tensor
from stages.data.images import save_grid, to_uint8
from stages.models.cyclegan import ResnetGenerator


@torch.inference_mode()
def translate(generator: nn.Module, images: np.ndarray, device: torch.device, batch_size: int) -> Tensor:
    """uint8 (N, S, S, 3) -> translated uint8 (N, 3, S, S) on the CPU."""
    generator.eval().to(device)
    out = []
    for start in range(0, len(images), batch_size):
        batch = to_tensor(images[start : start + batch_size]).to(device)
        out.append(to_uint8(generator(batch)).cpu())
    return torch.cat(out) if out else torch.empty(0, 3, *images.shape[1:3], dtype=torch.uint8)


@torch.inference_mode()
def save_triptych(
    g_ab: nn.Module, g_ba: nn.Module, photos: np.ndarray, device: torch.device, path: Path
) -> None:
    """A grid with rows photo | translated | rebuilt (A -> B -> A). Instance norm keeps no
    running statistics, so train and eval mode give the same images."""
    real = to_tensor(photos).to(device)
    fake = g_ab(real)
    rebuilt = g_ba(fake)
    images = to_uint8(torch.cat([real, fake.float(), rebuilt.float()])).cpu()
    save_grid(images, path, len(photos), ["photo", "translated", "rebuilt"])


def save_generators(g_ab: nn.Module, g_ba: nn.Module, info: dict, path: Path) -> None:
    """Both generators and what rebuilds them (blocks, width, image size, domains)."""
    save_torch(path, {"g_ab": g_ab.state_dict(), "g_ba": g_ba.state_dict(), "info": info})


def load_generators(path: str | Path) -> tuple[nn.Module, nn.Module, dict]:
    """(g_ab, g_ba, info) of a file written by save_generators, in eval mode on the CPU."""
    saved = load_torch(path)
    info = saved["info"]
    g_ab, g_ba = (ResnetGenerator(info["n_blocks"], info["width_g"]) for _ in range(2))
    g_ab.load_state_dict(saved["g_ab"])
    g_ba.load_state_dict(saved["g_ba"])
    return g_ab.eval(), g_ba.eval(), info
