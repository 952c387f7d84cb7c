"""FID and KID on precomputed features, computed by torchmetrics.

Feature extraction happens once, in stages.metrics.backbones; torchmetrics then sees
the features through an identity "feature extractor". The reference side is cached:
FID's running sums (torchmetrics' own state, saved with its state_dict) and a fixed
subset of reference features for KID.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

# torchmetrics warns that KID keeps every feature in memory; holding features is the point here.
warnings.filterwarnings("ignore", message=".*will save all extracted features.*")


class PrecomputedFeatures(nn.Module):
    """Identity: lets torchmetrics' metrics take (N, D) features instead of images."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features


def _fid_metric(num_features: int) -> FrechetInceptionDistance:
    metric = FrechetInceptionDistance(feature=PrecomputedFeatures(num_features), reset_real_features=False)
    metric.persistent(True)  # so its real-feature sums go into state_dict and the cache
    return metric


def reference_statistics(
    features: Tensor, kid_reference: int, seed: int, labels: Tensor | None = None
) -> dict:
    """Cacheable statistics of reference features (N, D) (and their class labels (N,)).

    Returns {'fid_state': torchmetrics FID state over all N, 'kid_features': a seeded
    subset of at most kid_reference rows (float64), also the real side of precision,
    recall, density and coverage, 'kid_labels': their labels when `labels` is given (for
    intra-class FID), 'count': N, 'num_features': D}.
    """
    features = features.double()
    metric = _fid_metric(features.shape[1])
    metric.update(features, real=True)
    state = {k: v for k, v in metric.state_dict().items() if "real_features" in k}
    subset = torch.randperm(len(features), generator=torch.Generator().manual_seed(seed))[:kid_reference]
    chosen = subset.sort().values
    stats = {
        "fid_state": state,
        "kid_features": features[chosen].clone(),
        "count": len(features),
        "num_features": features.shape[1],
    }
    if labels is not None:
        stats["kid_labels"] = labels[chosen].clone()
    return stats


def fid_from_reference(reference: dict, fake: Tensor) -> float:
    """FID between cached reference statistics and generated features (M, D)."""
    metric = _fid_metric(reference["num_features"])
    metric.load_state_dict(reference["fid_state"], strict=False)
    metric.update(fake.double(), real=False)
    return float(metric.compute())


def fid(real: Tensor, fake: Tensor) -> float:
    """FID between two feature sets (N, D) and (M, D)."""
    return fid_from_reference(reference_statistics(real, 0, 0), fake)


def kid(real: Tensor, fake: Tensor, subset_size: int, subsets: int, seed: int) -> tuple[float, float]:
    """KID (mean, std over subsets) with the cubic polynomial kernel, seeded subsets."""
    metric = KernelInceptionDistance(
        feature=PrecomputedFeatures(real.shape[1]), subsets=subsets, subset_size=subset_size
    )
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    # torchmetrics draws its subsets from the global generator: seed it, then restore it.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


def memorization_distance(real: Tensor, fake: Tensor) -> float:
    """Mean over generated features of the distance 1 - |cos| to the nearest real feature.

    Kaggle's metric averages over the generated side, as here; torchmetrics' MiFID averages
    over the real side. Both use the absolute cosine similarity. As in Kaggle's code, rows
    whose features sum to 0 (a post-ReLU all-zero vector has no direction) are dropped
    from both sides first."""
    real, fake = real.double(), fake.double()
    real = torch.nn.functional.normalize(real[real.sum(dim=1) != 0], dim=1)
    fake = torch.nn.functional.normalize(fake[fake.sum(dim=1) != 0], dim=1)
    nearest = torch.cat([(1 - (chunk @ real.T).abs()).min(dim=1).values for chunk in fake.split(1024)])
    return float(nearest.mean())


def mifid(fid_value: float, distance: float, eps: float = 0.1) -> float:
    """Memorization-informed FID (Kaggle's GAN competitions, torchmetrics' MiFID): FID
    divided by the memorization distance when that is below eps (the generated images sit
    close to training images), else FID itself."""
    thresholded = distance if distance < eps else 1.0
    return fid_value / (thresholded + 1e-15)
