"""A generator's scores: seeded samples -> features -> FID and KID against the cached
reference, and the class accuracy of a conditional generator's samples."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

from stages.core.schema import EvalConfig
from stages.gan.sampling import generated_batches
from stages.metrics.backbones import FeatureBackbone
from stages.metrics.features import batch_features
from stages.metrics.fid import fid_from_reference, kid


@torch.inference_mode()
def score_generator(  # noqa: PLR0913
    generator: nn.Module,
    latent_dim: int,
    backbone: FeatureBackbone,
    reference: dict,
    cfg: EvalConfig,
    device: torch.device,
    classifier: nn.Module | None = None,
    postprocess: Callable[[Tensor], Tensor] | None = None,
) -> dict:
    """FID/KID of `cfg.n_samples` seeded samples against the cached reference. With a
    conditional generator and a `classifier`, also the share of samples classified as the
    class they were generated for."""
    tick = time.perf_counter()
    backbone.to(device)
    features, correct, labelled = [], 0, 0
    batches = generated_batches(
        generator, cfg.n_samples, latent_dim, cfg.seed, device, cfg.batch_size, postprocess
    )
    for images, labels in batches:
        features.append(batch_features(backbone, images))
        if labels is not None and classifier is not None:
            correct += int((classifier(images).argmax(dim=1).cpu() == labels).sum())
            labelled += len(labels)
    features = torch.cat(features)
    seconds = time.perf_counter() - tick
    kid_mean, kid_std = kid(
        reference["kid_features"], features, cfg.kid_subset_size, cfg.kid_subsets, cfg.seed
    )
    return {
        "fid": round(fid_from_reference(reference, features), 4),
        "kid_mean": round(kid_mean, 6),
        "kid_std": round(kid_std, 6),
        "class_accuracy": round(correct / labelled, 4) if labelled else None,
        "seconds": seconds,
    }
