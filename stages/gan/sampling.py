"""Sampling from a trained generator, and the sample grids people look at."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

from stages.core.io import load_torch
from stages.data.images import to_uint8
from stages.models.registry import build_gan


def fixed_noise(count: int, latent_dim: int, seed: int) -> torch.Tensor:
    """The same z (count, latent_dim) for a seed on every machine (drawn on the CPU)."""
    return torch.randn(count, latent_dim, generator=torch.Generator().manual_seed(seed + 12345))


def is_conditional(generator: nn.Module) -> bool:
    return getattr(generator, "n_classes", 0) > 0


def balanced_labels(start: int, count: int, n_classes: int) -> torch.Tensor:
    """Labels start, start+1, ... modulo n_classes: every class equally often."""
    return torch.arange(start, start + count) % n_classes


@torch.inference_mode()
def sample_images(
    generator: nn.Module,
    z: torch.Tensor,
    device: torch.device,
    labels: torch.Tensor | None = None,
    batch_size: int = 500,
    postprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Generate uint8 images (N, 3, H, W) from z (and labels, for a conditional G) on `device`."""
    generator.eval().to(device)
    out = []
    for start in range(0, z.shape[0], batch_size):
        chunk = z[start : start + batch_size].to(device)
        y = None if labels is None else labels[start : start + batch_size].to(device)
        images = generator(chunk, y)
        out.append(to_uint8(images if postprocess is None else postprocess(images)).cpu())
    return torch.cat(out)


def generated_batches(
    generator: nn.Module,
    count: int,
    latent_dim: int,
    seed: int,
    device: torch.device,
    batch_size: int,
    postprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Yield (uint8 samples, labels or None) in batches, seeded, generated on `device`.
    A conditional generator gets every class equally often. `postprocess` (e.g. sharpening)
    maps the generator's [-1, 1] output before it is quantised to uint8."""
    rng = torch.Generator().manual_seed(seed)
    generator.eval().to(device)
    n_classes = getattr(generator, "n_classes", 0)
    for start in range(0, count, batch_size):
        n = min(batch_size, count - start)
        z = torch.randn(n, latent_dim, generator=rng)
        labels = balanced_labels(start, n, n_classes) if n_classes else None
        with torch.inference_mode():
            images = generator(z.to(device), None if labels is None else labels.to(device))
            if postprocess is not None:
                images = postprocess(images)
        yield to_uint8(images), labels


def grid_inputs(
    generator: nn.Module, rows: int, cols: int, latent_dim: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """z (and labels) for a grid: `cols` per row; a conditional G gets one row per class.
    Returns (z, labels, images per row)."""
    n_classes = getattr(generator, "n_classes", 0)
    if n_classes:
        labels = torch.arange(n_classes).repeat_interleave(cols)
        return fixed_noise(len(labels), latent_dim, seed), labels, cols
    return fixed_noise(rows * cols, latent_dim, seed), None, cols


def load_generator(path: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild a generator saved by the train stage; returns (generator in eval mode, info)."""
    info = load_torch(path)
    generator = build_untrained(info)
    generator.load_state_dict(info["state_dict"])
    return generator.eval(), info


def build_untrained(info: dict) -> nn.Module:
    """A freshly initialised generator of the architecture that `info` (a saved generator) names."""
    generator, _ = build_gan(
        info["arch"],
        info["latent_dim"],
        info["image_size"],
        n_classes=len(info["classes"]),
        width=info["width"],
    )
    return generator
