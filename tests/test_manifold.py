"""Precision, recall, density, coverage, the classifier score and intra-class FID: each
separates the failure it is meant to see, on features with a known answer."""

from __future__ import annotations

import math

import pytest
import torch

from stages.data.readers import CIFAR10_CLASSES
from stages.metrics.backbones import checked_cifar_net, load_cifar_net_backbone, load_scoring_classifier
from stages.metrics.features import batch_features
from stages.metrics.manifold import classifier_score, density_coverage, precision_recall
from stages.metrics.scoring import intra_class_fid


def gaussian(n: int, dim: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    return (
        torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale
        + shift
    )


def test_samples_from_the_real_distribution_score_high_on_all_four() -> None:
    real, fake = gaussian(1500, 8, 0), gaussian(1500, 8, 1)
    precision, recall = precision_recall(real, fake)
    density, coverage = density_coverage(real, fake)
    assert precision > 0.8 and recall > 0.8
    assert 0.8 < density < 1.2 and coverage > 0.8


def test_mode_collapse_keeps_precision_but_loses_recall_and_coverage() -> None:
    real = gaussian(1500, 8, 0)
    collapsed = real[:20].repeat(75, 1) + 1e-3 * gaussian(1500, 8, 2)  # 20 real points, over and over
    precision, recall = precision_recall(real, collapsed)
    density, coverage = density_coverage(real, collapsed)
    assert precision > 0.95  # every sample is realistic ...
    assert recall < 0.2 and coverage < 0.2  # ... but it covers a sliver of the data
    assert density > 0.8  # density does not punish realistic samples for being few


def test_samples_off_the_manifold_lose_precision_and_density() -> None:
    real, far = gaussian(1500, 8, 0), gaussian(1500, 8, 3, shift=6.0)
    precision, _ = precision_recall(real, far)
    density, coverage = density_coverage(real, far)
    assert precision < 0.05 and density < 0.05 and coverage < 0.05


def test_classifier_score_ranges_from_one_to_the_number_of_classes() -> None:
    confident_and_diverse = 50.0 * torch.eye(10).repeat(100, 1)  # each class, sure of it
    one_class = 50.0 * torch.eye(10)[:1].repeat(1000, 1)  # always the same class
    unsure = torch.zeros(1000, 10)  # uniform softmax
    # 10 splits of 100 shuffled samples: each split's classes are near, not exactly, uniform
    assert 9 < classifier_score(confident_and_diverse)[0] <= 10 + 1e-9
    assert classifier_score(one_class)[0] == pytest.approx(1, rel=1e-6)
    assert classifier_score(unsure)[0] == pytest.approx(1, rel=1e-6)
    assert 1 < classifier_score(confident_and_diverse[:500] * 0.05)[0] < 10


def test_intra_class_fid_sees_samples_drawn_for_the_wrong_class() -> None:
    real = torch.cat([gaussian(600, 4, c, shift=3.0 * c) for c in range(3)])
    labels = torch.arange(3).repeat_interleave(600)
    fake = torch.cat([gaussian(600, 4, 10 + c, shift=3.0 * c) for c in range(3)])
    right = intra_class_fid(real, labels, fake, labels)
    wrong = intra_class_fid(real, labels, fake, (labels + 1) % 3)  # every sample under another label
    assert right < 0.2 < 10 < wrong
    assert not math.isnan(right)


def test_the_shipped_classifier_scores_from_the_features_already_extracted() -> None:
    """With cifar_net as the backbone, the classifier score's logits come from its last layer
    on the extracted features: the same logits as a second full pass, without that pass."""
    backbone = load_cifar_net_backbone().eval()
    classifier = load_scoring_classifier(list(CIFAR10_CLASSES), "no featurenet here", backbone)
    assert classifier.on_features and classifier.network is backbone.network
    images = torch.randint(
        0, 256, (40, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    from_features = classifier.logits(images, batch_features(backbone, images))
    full_pass = checked_cifar_net()[0].double()(images).float()
    torch.testing.assert_close(from_features, full_pass, rtol=1e-5, atol=1e-5)
    assert from_features.std(dim=0).max() > 1e-3  # logits that vary with the image, not a constant
