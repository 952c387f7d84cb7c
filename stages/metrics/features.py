"""The one feature-extraction path: uint8 images -> backbone features. Reference
statistics, generated samples (stages.metrics.scoring) and CycleGAN translations all go
through `batch_features`.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor

from stages.metrics.backbones import INCEPTION_NAME, FeatureBackbone


@torch.inference_mode()
def batch_features(backbone: FeatureBackbone, images: Tensor) -> Tensor:
    """Features (N, D) float64 on the CPU of uint8 images (N, 3, H, W) on the backbone's
    device. A classifier backbone first gets its own input size (antialiased bilinear), as
    Inception resizes inside itself."""
    size = backbone.info.input_size
    if not backbone.info.name.startswith(INCEPTION_NAME) and images.shape[-1] != size:
        images = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True)
        images = images.round().clamp(0, 255).to(torch.uint8)
    return backbone(images).double().cpu()


def extract_features(backbone: FeatureBackbone, batches: Iterable[Tensor], device: torch.device) -> Tensor:
    """Features (N, D) float64 on the CPU of every uint8 batch in `batches`, computed on `device`."""
    backbone.to(device)
    return torch.cat([batch_features(backbone, batch.to(device)) for batch in batches])
