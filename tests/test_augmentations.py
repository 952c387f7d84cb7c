"""The deck's image-space improvements as tensor ops: identity at zero strength, ranges,
exact CutMix shares, and gradients through DiffAugment."""

from __future__ import annotations

import pytest
import torch

from stages.gan.augment import affine_augment, cutmix, diff_augment, unsharp_mask


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_affine_augment_is_the_identity_at_zero_strength_and_flips_exactly() -> None:
    images = torch.rand(6, 3, 16, 16) * 2 - 1
    same = affine_augment(images, seeded(), rotation_deg=0, shift=0, flip=False)
    assert torch.allclose(same, images, atol=1e-5)
    flipped = affine_augment(images, seeded(), rotation_deg=0, shift=0, flip=True)
    kinds = [
        torch.allclose(o, i, atol=1e-5) or torch.allclose(o, i.flip(2), atol=1e-5)
        for o, i in zip(flipped, images, strict=True)
    ]
    assert all(kinds)
    assert not torch.allclose(flipped, images, atol=1e-5)  # some were flipped


def test_affine_augment_keeps_range_and_is_seeded() -> None:
    images = torch.rand(8, 3, 32, 32) * 2 - 1
    out = affine_augment(images, seeded(3))
    assert out.shape == images.shape and out.min() >= -1 and out.max() <= 1
    assert torch.equal(out, affine_augment(images, seeded(3)))
    assert not torch.equal(out, affine_augment(images, seeded(4)))


def test_diff_augment_is_differentiable_and_seeded() -> None:
    images = (torch.rand(4, 3, 32, 32) * 2 - 1).requires_grad_(True)
    out = diff_augment(images, seeded(1))
    assert out.shape == images.shape
    out.square().sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0  # G learns through it
    assert torch.equal(out.detach(), diff_augment(images.detach(), seeded(1)))
    with pytest.raises(ValueError, match="unknown DiffAugment op 'blur'"):
        diff_augment(images, seeded(), policy="blur")


def test_translation_moves_pixels_and_fills_zeros() -> None:
    images = torch.rand(5, 3, 16, 16) + 0.5  # no zeros in the input
    out = diff_augment(images, seeded(2), policy="translation")
    for o, i in zip(out, images, strict=True):
        kept = o[o != 0]
        assert torch.isin(kept, i).all()  # every non-zero pixel is one of the input's


def test_cutout_zeroes_one_square_of_half_the_side() -> None:
    images = torch.rand(16, 3, 16, 16) + 0.5
    out = diff_augment(images, seeded(5), policy="cutout")
    zeros = (out[:, 0] == 0).flatten(1).sum(dim=1)
    assert (zeros <= 8 * 8).all() and (zeros > 0).all()  # 8x8, less where it hangs off the edge
    assert (zeros == 64).any()


def test_cutmix_share_is_the_exact_fraction_of_own_pixels() -> None:
    n = 32
    images = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, 16, 16).clone()
    labels = torch.arange(n)
    mixed, own, other, share = cutmix(images, labels, seeded(7))
    assert torch.equal(own, labels)
    for i in range(n):
        if other[i] == i:
            continue  # paired with itself: nothing visibly changes
        assert (mixed[i, 0] == i).float().mean().item() == pytest.approx(share[i].item())
        assert set(mixed[i, 0].unique().tolist()) <= {float(i), float(other[i])}
    assert (share < 1).any() and (share >= 0).all()


def test_unsharp_mask_keeps_range_sharpens_edges_and_is_identity_at_zero() -> None:
    images = torch.rand(4, 3, 32, 32) * 2 - 1
    assert torch.equal(unsharp_mask(images, amount=0), images)
    sharp = unsharp_mask(images, amount=1.5)
    assert sharp.min() >= -1 and sharp.max() <= 1
    flat = torch.full((1, 3, 16, 16), 0.3)
    assert torch.allclose(unsharp_mask(flat, amount=2.0), flat, atol=1e-6)  # nothing to sharpen
    edge = torch.full((1, 1, 16, 16), -0.5)
    edge[..., 8:] = 0.5
    out = unsharp_mask(edge, amount=1.0)
    assert out[0, 0, 8, 8] > 0.5 and out[0, 0, 8, 7] < -0.5  # overshoot on both sides of the edge
    # bounded change: the deck's broken sharpening moved pixel values by orders of magnitude
    assert (sharp - images).abs().max() <= 2


@torch.no_grad()
def test_sharpening_moves_fid_by_a_sane_amount_not_orders_of_magnitude() -> None:
    """The deck's sharpened DCGAN 3 scored FID 680,163: its sharpened images had left the
    [-1, 1] scaling. Ours stay in range, so FID moves by a fraction of the real-vs-noise gap."""
    from stages.data.images import to_signed_unit, to_uint8
    from stages.data.shapes import make_shapes
    from stages.metrics.fid import fid
    from stages.models.featurenet import FeatureNet

    data = make_shapes(n_train=400, n_test=400, size=32, seed=1)
    real = torch.from_numpy(data.splits["train"].images)
    other = to_signed_unit(torch.from_numpy(data.splits["test"].images))  # stands in for samples
    torch.manual_seed(0)
    net = FeatureNet(10, 32).eval()
    reference = net.embed(real).double()

    def score(images: torch.Tensor) -> float:
        return fid(reference, net.embed(images).double())

    plain = score(to_uint8(other))
    sharpened = [score(to_uint8(unsharp_mask(other, amount))) for amount in (0.5, 1.0, 2.0)]
    noise = score(
        torch.randint(0, 256, real.shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    )
    assert plain < sharpened[0] < sharpened[1] < sharpened[2]  # more sharpening, further from the data
    assert sharpened[1] - plain < 0.25 * noise
    # the deck's bug for contrast: sharpened images fed on a 0..255 scale
    broken = score((unsharp_mask(other, 1.0) + 1) * 127.5)
    assert broken > 1000 * noise
