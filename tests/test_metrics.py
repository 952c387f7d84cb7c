"""FID and KID on features: known answers, and the reference cache changes nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import linalg

from stages.metrics.fid import fid, fid_from_reference, kid, reference_statistics


def gaussian(n: int, dim: int, seed: int, scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=g, dtype=torch.float64) * scale + shift


def closed_form_fid(x: torch.Tensor, y: torch.Tensor) -> float:
    """Frechet distance of the two sample Gaussians, with scipy's matrix square root."""
    mu1, mu2 = x.mean(0).numpy(), y.mean(0).numpy()
    s1, s2 = np.cov(x.numpy(), rowvar=False), np.cov(y.numpy(), rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_fid_of_a_feature_set_with_itself_is_zero() -> None:
    x = gaussian(3000, 32, 0)
    assert abs(fid(x, x)) < 1e-6


def test_fid_matches_the_closed_form_on_gaussians() -> None:
    x, y = gaussian(4000, 24, 1), gaussian(4000, 24, 2, scale=1.3, shift=0.25)
    expected = closed_form_fid(x, y)
    assert expected > 1.0  # the two sets really differ
    assert fid(x, y) == pytest.approx(expected, rel=1e-6)


def test_cached_reference_statistics_give_the_same_fid() -> None:
    real, fake = gaussian(2000, 16, 3), gaussian(1500, 16, 4, shift=0.5)
    cached = reference_statistics(real, 500, seed=0)
    assert cached["kid_features"].shape == (500, 16)
    assert fid_from_reference(cached, fake) == pytest.approx(closed_form_fid(real, fake), rel=1e-6)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two() -> None:
    a, b = gaussian(2000, 16, 5), gaussian(2000, 16, 6)
    c = gaussian(2000, 16, 7, scale=1.5, shift=0.3)
    same_mean, same_std = kid(a, b, 500, 50, seed=0)
    diff_mean, _ = kid(a, c, 500, 50, seed=0)
    assert abs(same_mean) < 3 * same_std + 1e-3
    assert diff_mean > 0.1
    assert diff_mean > 20 * abs(same_mean)


def test_kid_is_seeded_and_leaves_the_global_generator_alone() -> None:
    a, c = gaussian(1000, 8, 8), gaussian(1000, 8, 9, shift=0.2)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    assert kid(a, c, 200, 10, seed=1) == kid(a, c, 200, 10, seed=1)
    assert torch.equal(torch.get_rng_state(), before)
