"""The evaluation classifier: a small VGG-style CNN trained on the prepared training split.

It is the FID/KID backbone on machines without the Inception weights, and it scores
whether class-conditional samples show their class. Plain named conv blocks (conv1_1,
conv1_2, ..., as in VGG) so its layers can be picked by name, like VGG19's.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
from torch import Tensor, nn

from stages.core.errors import UserError
from stages.core.io import load_torch
from stages.data.images import to_signed_unit

# channel multiplier of the width, per block; each block ends in a 2x2 max-pool but the last
WIDTH_MULTIPLIERS = (1, 2, 4, 8)


class FeatureNet(nn.Module):
    """uint8 images (N, 3, H, W) -> class logits; `embed` gives the penultimate features."""

    def __init__(self, num_classes: int = 10, width: int = 32, convs: tuple[int, ...] = (1, 1, 1, 1)) -> None:
        super().__init__()
        if len(convs) != len(WIDTH_MULTIPLIERS):
            raise ValueError(f"convs needs one count per block ({len(WIDTH_MULTIPLIERS)}), got {convs}")
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        channels = 3
        for block, (count, mult) in enumerate(zip(convs, WIDTH_MULTIPLIERS, strict=True), start=1):
            for i in range(1, count + 1):
                layers[f"conv{block}_{i}"] = nn.Conv2d(channels, width * mult, 3, padding=1, bias=False)
                layers[f"bn{block}_{i}"] = nn.BatchNorm2d(width * mult)
                layers[f"relu{block}_{i}"] = nn.ReLU(inplace=True)
                channels = width * mult
            if block < len(WIDTH_MULTIPLIERS):
                layers[f"pool{block}"] = nn.MaxPool2d(2)
        self.features = nn.Sequential(layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)
        self.num_features = channels
        self.width = width
        self.convs = tuple(convs)

    def embed(self, images: Tensor) -> Tensor:
        """uint8 or [-1, 1] float images -> (N, num_features) pooled features."""
        x = to_signed_unit(images) if images.dtype == torch.uint8 else images
        return self.pool(self.features(x)).flatten(1)

    def forward(self, images: Tensor) -> Tensor:
        return self.classifier(self.embed(images))


def load_featurenet(path: str | Path) -> tuple[FeatureNet, dict]:
    """The trained classifier (eval mode, CPU) and its saved info."""
    info = load_torch(path)
    if info["state_dict"] is None:
        raise UserError(
            f"{path}: no featurenet was trained ({info['reason']}: nothing to classify); use "
            "eval.backbone=cifar_net or inception, and style.backbone=vgg19"
        )
    model = FeatureNet(len(info["classes"]), info["width"], tuple(info["convs"]))
    model.load_state_dict(info["state_dict"])
    return model.eval(), info
