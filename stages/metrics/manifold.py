"""Fidelity and diversity as separate numbers, on the same features FID uses.

- Precision and recall (Kynkäänniemi et al. 2019, k = 3): the share of generated samples
  inside the real manifold (fidelity), and of real samples inside the generated one
  (diversity). Computed by torch-fidelity on our features.
- Density and coverage (Naeem et al. 2020, k = 5): density counts how many real
  neighbourhoods contain each generated sample (robust to real outliers, and above 1
  when samples crowd into dense real regions); coverage is the share of real samples
  whose neighbourhood holds at least one generated sample.
- Classifier score: the Inception Score's formula, exp(E_x KL(p(y|x) || p(y))), over the
  softmax of the evaluation classifier (not Inception: named for what it is).

A FID alone cannot tell mode dropping from blurry samples; these four can.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_fidelity.metric_isc import isc_features_to_metric
from torch_fidelity.metric_prc import calculate_precision_recall_part

PRECISION_RECALL_K = 3  # Kynkäänniemi et al.'s default
DENSITY_COVERAGE_K = 5  # Naeem et al.'s default
CLASSIFIER_SCORE_SPLITS = 10  # as the Inception Score is usually reported


def precision_recall(real: Tensor, fake: Tensor, k: int = PRECISION_RECALL_K) -> tuple[float, float]:
    """(precision, recall) of generated features (M, D) against real ones (N, D)."""
    precision, recall = calculate_precision_recall_part(fake.double(), real.double(), neighborhood=k)
    return float(precision), float(recall)


def _kth_neighbour_distance(features: Tensor, k: int, chunk: int = 4096) -> Tensor:
    """Distance of each row to its k-th nearest other row (N,)."""
    return torch.cat(
        [torch.cdist(part, features).kthvalue(k + 1, dim=1).values for part in features.split(chunk)]
    )


def density_coverage(real: Tensor, fake: Tensor, k: int = DENSITY_COVERAGE_K) -> tuple[float, float]:
    """(density, coverage) of generated features (M, D) against real ones (N, D)."""
    real, fake = real.double(), fake.double()
    radii = _kth_neighbour_distance(real, k)  # (N,)
    inside = torch.zeros(len(real), dtype=torch.float64)  # generated samples in each real ball
    for part in fake.split(4096):
        inside += (torch.cdist(part, real) <= radii).sum(dim=0, dtype=torch.float64)
    density = float(inside.sum() / (k * len(fake)))
    coverage = float((inside > 0).double().mean())
    return density, coverage


def classifier_score(logits: Tensor, splits: int = CLASSIFIER_SCORE_SPLITS) -> tuple[float, float]:
    """(mean, std over splits) of exp(E KL(p(y|x) || p(y))) of class logits (M, C); from 1
    (every sample the same class distribution) to C (confident and every class equally)."""
    result = isc_features_to_metric(logits.double(), splits=splits, shuffle=True, rng_seed=0)
    return float(result["inception_score_mean"]), float(result["inception_score_std"])
