"""Image-space improvements of the deck's "Model Improvement" section, as batch tensor ops.

All of them take float images (N, C, H, W) in [-1, 1] on any device and draw their
randomness from a CPU `torch.Generator`, so a seed fixes the result on every machine:

- `affine_augment`: the deck's ImageDataGenerator (rotation, width/height shift, flip),
- `diff_augment`: DiffAugment (Zhao et al. 2020: colour, translation, cutout), applied
  to real and fake images alike before D, differentiable so G learns through it,
- `cutmix`: CutMix (Yun et al. 2019) of two real images and their labels (the deck's
  version), and `cutmix_box` for U-Net GAN's real-with-fake CutMix (Schoenfeld et al. 2020),
- `unsharp_mask`: the deck's sharpening, kept in [-1, 1] (its FID of 680,163 came from
  sharpened images leaving the range the metric expects).

The training loop applies the first three when train.augment, train.diffaugment and
train.cutmix say so (`augment_real`, `DiffAugmented`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stages.core.device import host_to_device
from stages.core.schema import DIFFAUGMENT_OPS, CutMixMode


def _uniform(n: int, low: float, high: float, generator: torch.Generator, device: torch.device) -> Tensor:
    return host_to_device(low + (high - low) * torch.rand(n, generator=generator), device)


def affine_augment(
    images: Tensor,
    generator: torch.Generator,
    rotation_deg: float = 15.0,
    shift: float = 0.1,
    flip: bool = True,
) -> Tensor:
    """Random rotation in [-rotation_deg, rotation_deg], shift by up to `shift` of the
    width and height, and horizontal flip with probability 1/2, per image, in one
    grid_sample. Pixels from outside repeat the border (Keras' fill_mode='nearest')."""
    n = images.shape[0]
    device = images.device
    angle = _uniform(n, -rotation_deg, rotation_deg, generator, device) * (math.pi / 180)
    # affine_grid works in [-1, 1] coordinates: a shift of s of the width is 2 s
    tx = _uniform(n, -shift, shift, generator, device) * 2
    ty = _uniform(n, -shift, shift, generator, device) * 2
    sign = 1.0
    if flip:
        sign = host_to_device(torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0), device)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [torch.stack([cos * sign, -sin, tx], dim=1), torch.stack([sin * sign, cos, ty], dim=1)], dim=1
    )
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def diff_augment(
    images: Tensor, generator: torch.Generator, policy: str = "color,translation,cutout"
) -> Tensor:
    """DiffAugment with the paper's CIFAR policy. Every op is differentiable in `images`."""
    n, _, h, w = images.shape
    device = images.device
    for op in filter(None, (p.strip() for p in policy.split(","))):
        if op == "color":
            # brightness + U(-0.5, 0.5), saturation x[0, 2], contrast x[0.5, 1.5], added to the
            # [-1, 1] images as they are: the reference code's CIFAR setup (DiffAugment-biggan-cifar)
            images = images + _uniform(n, -0.5, 0.5, generator, device).view(n, 1, 1, 1)
            mean = images.mean(dim=1, keepdim=True)
            images = (images - mean) * _uniform(n, 0, 2, generator, device).view(n, 1, 1, 1) + mean
            mean = images.mean(dim=(1, 2, 3), keepdim=True)
            images = (images - mean) * _uniform(n, 0.5, 1.5, generator, device).view(n, 1, 1, 1) + mean
        elif op == "translation":
            images = _translate(images, 1 / 8, generator)
        elif op == "cutout":
            images = _cutout(images, 1 / 2, generator)
        else:
            raise ValueError(f"unknown DiffAugment op {op!r} (known: {', '.join(DIFFAUGMENT_OPS)})")
    return images


def _translate(images: Tensor, ratio: float, generator: torch.Generator) -> Tensor:
    """Shift each image by up to ratio * size pixels, filling with zeros (the paper's choice)."""
    n, c, h, w = images.shape
    device = images.device
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = host_to_device(torch.randint(-sy, sy + 1, (n, 1, 1), generator=generator), device)
    dx = host_to_device(torch.randint(-sx, sx + 1, (n, 1, 1), generator=generator), device)
    rows = torch.arange(h, device=device).view(1, h, 1) + dy + 1  # +1: the zero border below
    cols = torch.arange(w, device=device).view(1, 1, w) + dx + 1
    rows = rows.clamp(0, h + 1).expand(n, h, w)
    cols = cols.clamp(0, w + 1).expand(n, h, w)
    padded = F.pad(images, (1, 1, 1, 1))
    batch = torch.arange(n, device=device).view(n, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def _cutout(images: Tensor, ratio: float, generator: torch.Generator) -> Tensor:
    """Zero one square of side ratio * size per image, at a random centre."""
    n, _, h, w = images.shape
    device = images.device
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = host_to_device(torch.randint(0, h + (1 - ch % 2), (n, 1, 1), generator=generator), device)
    cx = host_to_device(torch.randint(0, w + (1 - cw % 2), (n, 1, 1), generator=generator), device)
    ys = torch.arange(h, device=device).view(1, h, 1)
    xs = torch.arange(w, device=device).view(1, 1, w)
    inside = ((ys - cy + ch // 2) >= 0) & ((ys - cy + ch // 2) < ch) & ((xs - cx + cw // 2) >= 0)
    inside = inside & ((xs - cx + cw // 2) < cw)
    return images * (~inside).unsqueeze(1).to(images.dtype)


def cutmix(
    images: Tensor, labels: Tensor, generator: torch.Generator
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Paste a random box of a shuffled partner into each image.

    Returns (mixed images, labels, partner labels, share): `share` (N,) is the exact
    fraction of each image's area still its own, so a conditional loss weighs the two
    labels by share and 1 - share. Box area ~ U(0, 1) of the image, as Beta(1, 1)."""
    n, _, h, w = images.shape
    device = images.device
    partner = host_to_device(torch.randperm(n, generator=generator), device)
    box, share = cutmix_box(n, h, w, generator)
    mixed = torch.where(host_to_device(box, device), images[partner], images)
    return mixed, labels, labels[partner], host_to_device(share, device)


def cutmix_box(n: int, h: int, w: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """CutMix's box per image: (N, 1, H, W) bool on the CPU, and the share of each image
    outside it (exact, after clipping at the border). Area ~ U(0, 1) of the image, as Beta(1, 1)."""
    cut = torch.sqrt(1 - torch.rand(n, generator=generator))  # side ratio: area = 1 - lambda
    bh, bw = (cut * h).long(), (cut * w).long()
    cy = (torch.rand(n, generator=generator) * h).long()
    cx = (torch.rand(n, generator=generator) * w).long()
    y0, y1 = (cy - bh // 2).clamp(0, h), (cy + bh - bh // 2).clamp(0, h)
    x0, x1 = (cx - bw // 2).clamp(0, w), (cx + bw - bw // 2).clamp(0, w)
    ys = torch.arange(h).view(1, h, 1)
    xs = torch.arange(w).view(1, 1, w)
    box = (
        (ys >= y0.view(n, 1, 1))
        & (ys < y1.view(n, 1, 1))
        & (xs >= x0.view(n, 1, 1))
        & (xs < x1.view(n, 1, 1))
    )
    return box.unsqueeze(1), 1 - box.flatten(1).float().mean(dim=1)


def unsharp_mask(images: Tensor, amount: float = 1.0, sigma: float = 1.0) -> Tensor:
    """images + amount * (images - gaussian_blur(images)), clamped to [-1, 1]. amount 0 is
    the identity."""
    if amount == 0:
        return images
    return (images + amount * (images - gaussian_blur(images, sigma))).clamp(-1, 1)


def gaussian_blur(images: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of float images (N, C, H, W), radius ceil(3 sigma); it reflects
    at the border so edges are not darkened."""
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    c = images.shape[1]
    blurred = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    blurred = F.conv2d(blurred, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(blurred, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def augment_real(  # noqa: PLR0913
    real: Tensor,
    labels: Tensor,
    augment: bool,
    cutmix_p: float,
    cutmix_mode: CutMixMode,
    generator: torch.Generator,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """The real batch as the loop feeds it to D: affine-augmented when `augment`, and with
    probability `cutmix_p` CutMix-ed. Returns (real, labels, fake_box).

    real_real: the batch mixed with itself; an image keeps the label of the part that
    covers more of it (a conditional D scores one label per image). real_fake: `fake_box`
    (N, 1, H, W) marks where `paste_fake` puts this step's fakes into the real images;
    otherwise None."""
    if augment:
        real = affine_augment(real, generator)
    fake_box = None
    if cutmix_p > 0 and torch.rand((), generator=generator).item() < cutmix_p:
        if cutmix_mode == CutMixMode.real_real:
            real, own, other, share = cutmix(real, labels, generator)
            labels = torch.where(share >= 0.5, own, other)
        else:
            n, _, h, w = real.shape
            fake_box = host_to_device(cutmix_box(n, h, w, generator)[0], real.device)
    return real, labels, fake_box


def paste_fake(real: Tensor, fake: Tensor, fake_box: Tensor) -> Tensor:
    """U-Net GAN's CutMix: each real image with its box filled from the fake one at the
    same index (same label in a conditional model). D scores these as fake: a global D's
    target for any image with generated pixels in it."""
    return torch.where(fake_box, fake.to(real.dtype), real)


class DiffAugmented(nn.Module):
    """D behind DiffAugment: every image it scores, real or fake, is augmented first, with
    gradients flowing through to G. Attribute access falls through to the wrapped D."""

    def __init__(self, discriminator: nn.Module, policy: str, generator: torch.Generator) -> None:
        super().__init__()
        self.discriminator = discriminator
        self.policy = policy
        self.generator = generator

    def forward(self, images: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.discriminator(diff_augment(images, self.generator, self.policy), labels)
