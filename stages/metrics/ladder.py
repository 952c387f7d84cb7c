"""The calibration ladder: known degradations of held-out real images, scored like a
generator, so a reader learns what a FID (or precision, recall) of X means in a protocol.

Every rung is a set of uint8 images (N, 3, H, W) built from the held-out split (never the
reference images) by a seeded, deterministic transform; `RUNGS` lists them mildest first
within each kind. `untrained generator` is DCGAN 3 with its seeded initial weights.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from PIL import Image
from torch import Tensor

from stages.core.schema import LadderRungs
from stages.gan.augment import gaussian_blur
from stages.gan.sampling import generated_batches
from stages.models.registry import build_gan


def noise(sigma: float, seed: int) -> Callable[[Tensor], Tensor]:
    """Gaussian pixel noise of `sigma` (in [0, 1] units), seeded."""

    def apply(images: Tensor) -> Tensor:
        rng = torch.Generator().manual_seed(seed)
        noisy = images.double() + 255 * sigma * torch.randn(images.shape, generator=rng, dtype=torch.float64)
        return noisy.round().clamp(0, 255).to(torch.uint8)

    return apply


def blur(sigma: float) -> Callable[[Tensor], Tensor]:
    def apply(images: Tensor) -> Tensor:
        return gaussian_blur(images.double(), sigma).round().clamp(0, 255).to(torch.uint8)

    return apply


def down_up(size: int) -> Callable[[Tensor], Tensor]:
    """Down to `size` px (antialiased bilinear) and back up (bilinear): detail below that scale
    is gone, the layout of colours stays."""

    def apply(images: Tensor) -> Tensor:
        full = images.shape[-1]
        small = F.interpolate(images.double(), size=(size, size), mode="bilinear", antialias=True)
        back = F.interpolate(small, size=(full, full), mode="bilinear", align_corners=False)
        return back.round().clamp(0, 255).to(torch.uint8)

    return apply


def jpeg(quality: int) -> Callable[[Tensor], Tensor]:
    def apply(images: Tensor) -> Tensor:
        out = []
        for image in images.permute(0, 2, 3, 1).numpy():
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
            out.append(np.asarray(Image.open(buffer).convert("RGB")))
        return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()

    return apply


def colour_shift(shift: tuple[int, int, int]) -> Callable[[Tensor], Tensor]:
    """Add a constant per channel (a colour cast), clamped."""

    def apply(images: Tensor) -> Tensor:
        offset = torch.tensor(shift, dtype=torch.int16).view(1, 3, 1, 1)
        return (images.to(torch.int16) + offset).clamp(0, 255).to(torch.uint8)

    return apply


def identity(images: Tensor) -> Tensor:
    return images


# name -> (kind, transform); class-dropping rungs and the untrained generator are special
RUNGS: dict[str, tuple[str, Callable[[Tensor], Tensor] | None]] = {
    "real (held out)": ("real", identity),
    "noise σ=0.02": ("noise", noise(0.02, 1)),
    "noise σ=0.05": ("noise", noise(0.05, 2)),
    "noise σ=0.10": ("noise", noise(0.10, 3)),
    "blur σ=0.5": ("blur", blur(0.5)),
    "blur σ=1": ("blur", blur(1.0)),
    "blur σ=2": ("blur", blur(2.0)),
    "16-px down-and-up": ("resolution", down_up(16)),
    "8-px down-and-up": ("resolution", down_up(8)),
    "4-px down-and-up (colour blobs)": ("resolution", down_up(4)),
    "JPEG quality 50": ("jpeg", jpeg(50)),
    "JPEG quality 10": ("jpeg", jpeg(10)),
    "colour shift (+24, 0, -24)": ("colour", colour_shift((24, 0, -24))),
    "half the classes dropped": ("classes", None),
    "a single class": ("classes", None),
    "untrained generator (DCGAN 3)": ("generator", None),
}


# `ladder.rungs=core`: one rung per step of the scale a reader needs (real, mild noise, mild
# blur, lost detail, colour blobs, lost classes, no training), each of them in RUNGS
CORE_RUNGS = (
    "real (held out)",
    "noise σ=0.02",
    "blur σ=1",
    "16-px down-and-up",
    "4-px down-and-up (colour blobs)",
    "half the classes dropped",
    "untrained generator (DCGAN 3)",
)


def rung_names(rungs: LadderRungs) -> list[str]:
    """The rungs to score, in RUNGS' order."""
    return [name for name in RUNGS if rungs == LadderRungs.full or name in CORE_RUNGS]


def rung_images(name: str, held_out: Tensor, labels: Tensor, count: int, seed: int) -> Tensor:
    """`count` uint8 images of one rung from held-out images (N, 3, H, W) and their labels."""
    kind, transform = RUNGS[name]
    if name == "half the classes dropped":
        classes = sorted(set(labels.tolist()))
        kept = torch.isin(labels, torch.tensor(classes[: max(1, len(classes) // 2)]))
        return held_out[kept][:count]
    if name == "a single class":
        return held_out[labels == labels.min()][:count]
    if kind == "generator":
        torch.manual_seed(seed)
        generator, _ = build_gan("dcgan3", 128, held_out.shape[-1])
        batches = generated_batches(generator, count, 128, seed, torch.device("cpu"), 500)
        return torch.cat([images for images, _ in batches])
    assert transform is not None
    return transform(held_out[:count])
