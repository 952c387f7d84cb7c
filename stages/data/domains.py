"""Two folders of unpaired images as fixed-size uint8 arrays, for CycleGAN.

Each image: RGB, shorter side resized to `image_size` with Pillow's bicubic filter (a
deterministic integer implementation), then centre-cropped. Files are taken in name order,
so the same folder gives the same bytes on any machine. A's held-out split is a seeded
choice of indices, written out, so evaluation always translates the same photos.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from stages.core.errors import UserError
from stages.core.paths import domains_dir
from stages.core.schema import DomainsConfig, SmallImages
from stages.data.images import channels_first, to_signed_unit
from stages.data.readers import IMAGE_SUFFIXES

log = logging.getLogger("domains")


def list_images(folder: str | Path, max_images: int = 0) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder of images (set domains.a / domains.b)")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise UserError(f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder")
    return files[:max_images] if max_images else files


def load_square(path: Path, size: int, small: SmallImages) -> np.ndarray:
    """(size, size, 3) uint8: shorter side resized to `size`, centre crop."""
    try:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
    except (UnidentifiedImageError, OSError) as err:
        raise UserError(f"{path}: not a readable image ({type(err).__name__})") from None
    width, height = image.size
    if min(width, height) < size:
        if small == SmallImages.error:
            raise UserError(
                f"{path}: {width}x{height} is smaller than domains.image_size={size} "
                "(set domains.small_images=upscale to enlarge it)"
            )
        log.warning("%s: %dx%d upscaled to image_size %d", path, width, height, size)
    scale = size / min(width, height)
    resized = (max(size, round(width * scale)), max(size, round(height * scale)))
    if resized != (width, height):
        image = image.resize(resized, Image.Resampling.BICUBIC)
    left, top = (resized[0] - size) // 2, (resized[1] - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.uint8)


def read_domain(folder: str | Path, cfg: DomainsConfig, label: str) -> tuple[np.ndarray, list[str]]:
    files = list_images(folder, cfg.max_images)
    with tqdm(files, desc=f"domain {label}") as bar:  # closed on error: the error gets its own line
        images = np.stack([load_square(path, cfg.image_size, cfg.small_images) for path in bar])
    return images, [path.name for path in files]


def held_out(count: int, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of the held-out share (at least 1, at most count - 1)."""
    n_test = min(count - 1, max(1, round(count * fraction)))
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed)).numpy()
    return np.sort(order[:n_test])


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float in [-1, 1]."""
    return to_signed_unit(channels_first(images))


def load_domains(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A images, B images, held-out indices of A) as prepare_domains wrote them."""
    folder = domains_dir(name)
    files = [folder / f for f in ("a.npy", "b.npy", "a_test.npy")]
    for path in files:
        if not path.is_file():
            raise UserError(f"{path}: not found (run `dvc repro prepare_domains` first)")
    a, b, test = (np.load(path, allow_pickle=False) for path in files)
    return a, b, test
