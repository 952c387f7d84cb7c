"""The evaluation classifier shipped with the project: a CIFAR-10 network in the style of
Keller Jordan's airbench94 (arXiv:2404.00498), trained once (`make cifar-net`) and frozen.

Layers: a 2x2 convolution to 24 channels initialised to whiten image patches (its weights
never train), GELU, then three conv groups of widths 64, 256, 256 (conv 3x3, max-pool 2,
batch norm, GELU, conv 3x3, batch norm, GELU), a 3x3 max-pool to (N, 256), and a linear
layer scaled by 1/9 to the 10 class logits. `embed` returns the pooled 256-d features
that FID, KID, precision/recall and density/coverage are computed on.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from stages.core.io import load_torch

# CIFAR-10 train mean and std per channel on [0, 1] (the standard values)
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
WHITENING_KERNEL = 2
WIDTHS = (64, 256, 256)
LOGIT_SCALE = 1 / 9


class ConvGroup(nn.Module):
    """conv 3x3 -> max-pool 2 -> BN -> GELU -> conv 3x3 -> BN -> GELU. Batch-norm scales stay
    at 1 (only their shifts train); convolutions start as identities where shapes allow."""

    def __init__(self, channels_in: int, channels_out: int, bn_momentum: float = 0.4) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, padding="same", bias=False)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = nn.BatchNorm2d(channels_out, eps=1e-12, momentum=bn_momentum)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, padding="same", bias=False)
        self.norm2 = nn.BatchNorm2d(channels_out, eps=1e-12, momentum=bn_momentum)
        self.activation = nn.GELU()
        for conv in (self.conv1, self.conv2):
            nn.init.dirac_(conv.weight.data[: conv.weight.shape[1]])
        for norm in (self.norm1, self.norm2):
            norm.weight.requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        x = self.activation(self.norm1(self.pool(self.conv1(x))))
        return self.activation(self.norm2(self.conv2(x)))


class CifarNet(nn.Module):
    """uint8 images (N, 3, 32, 32) -> 10 class logits; `embed` gives (N, 256) features."""

    def __init__(self, num_classes: int = 10, widths: tuple[int, ...] = WIDTHS) -> None:
        super().__init__()
        whitening_width = 2 * 3 * WHITENING_KERNEL**2
        self.whiten = nn.Conv2d(3, whitening_width, WHITENING_KERNEL, padding=0, bias=True)
        self.whiten.weight.requires_grad_(False)
        nn.init.zeros_(self.whiten.bias)
        channels = [whitening_width, *widths]
        self.groups = nn.Sequential(*(ConvGroup(a, b) for a, b in zip(channels, channels[1:], strict=False)))
        self.pool = nn.MaxPool2d(3)
        self.classifier = nn.Linear(widths[-1], num_classes, bias=False)
        self.register_buffer("mean", torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("std", torch.tensor(CIFAR_STD).view(1, 3, 1, 1) * 255, persistent=False)
        self.num_features = widths[-1]

    def normalise(self, images: Tensor) -> Tensor:
        """uint8 (N, 3, H, W) in [0, 255] -> standardised float of the module's dtype."""
        return (images.to(self.mean.dtype) - self.mean) / self.std

    def features(self, x: Tensor) -> Tensor:
        """Standardised images -> pooled (N, 256) features."""
        x = nn.functional.gelu(self.whiten(x))
        return self.pool(self.groups(x)).flatten(1)

    def embed(self, images: Tensor) -> Tensor:
        return self.features(self.normalise(images))

    def forward(self, images: Tensor) -> Tensor:
        return self.logits(self.normalise(images))

    def logits(self, x: Tensor) -> Tensor:
        """Standardised images -> class logits."""
        return self.head(self.features(x))

    def head(self, features: Tensor) -> Tensor:
        """Pooled (N, 256) features -> class logits."""
        return self.classifier(features) * LOGIT_SCALE

    @torch.no_grad()
    def init_whitening(self, standardised: Tensor, eps: float = 5e-4) -> None:
        """Set the 2x2 filters to the eigenvectors of the patch covariance of `standardised`
        images (N, 3, H, W), scaled by 1/sqrt(eigenvalue + eps), and their negatives."""
        k = WHITENING_KERNEL
        patches = standardised.unfold(2, k, 1).unfold(3, k, 1)  # (N, 3, H-1, W-1, k, k)
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, 3 * k * k).double()
        covariance = patches.T @ patches / len(patches)
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
        filters = (eigenvectors.T / torch.sqrt(eigenvalues + eps)[:, None]).flip(0)
        filters = filters.reshape(-1, 3, k, k).to(self.whiten.weight.dtype)
        self.whiten.weight.copy_(torch.cat([filters, -filters]))


def load_cifar_net(path: str | Path) -> tuple[CifarNet, dict]:
    """The classifier saved by `make cifar-net` (eval mode, CPU, float32) and its saved facts."""
    saved = load_torch(path)
    model = CifarNet(len(saved["classes"]))
    model.load_state_dict(saved["state_dict"])
    return model.eval(), saved
