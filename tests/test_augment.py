"""Tensor augmentation keeps shape and range, and does nothing at zero strength."""

from __future__ import annotations

import torch

from stages.metrics.classifier import random_crop_flip


def test_crop_flip_keeps_shape_and_range_and_is_seeded() -> None:
    images = torch.rand(16, 3, 32, 32) * 2 - 1
    out = random_crop_flip(images, 4, torch.Generator().manual_seed(0))
    assert out.shape == images.shape
    assert out.min() >= -1 and out.max() <= 1
    again = random_crop_flip(images, 4, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    assert not torch.equal(out, images)


def test_each_output_is_a_translated_or_flipped_copy_of_its_input() -> None:
    images = torch.rand(8, 3, 16, 16)
    out = random_crop_flip(images, 0, torch.Generator().manual_seed(1))
    for src, dst in zip(images, out, strict=True):
        assert torch.equal(dst, src) or torch.equal(dst, src.flip(2))
