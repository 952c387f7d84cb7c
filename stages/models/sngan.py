"""SNGAN (Miyato et al. 2018), the modern baseline none of the seeds had.

The CIFAR-10 ResNet of the paper and of Mimicry: G = dense 4x4 -> three up-blocks ->
BN, ReLU, conv 3x3, tanh; D = an optimised first block, three residual blocks (two
down-sampling), ReLU, global sum pooling, dense 1, every layer of D spectral-normalised.
Trained with the hinge loss, TTUR learning rates and an EMA of G (conf/model/sngan.yaml).
`width` is G's channel count (256 in the paper); D uses half of it (128).
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from stages.models.layers import Discriminator, Generator, Pair, Reshape, sn, start_size


class UpBlock(nn.Module):
    """BN -> ReLU -> upsample -> conv 3x3 -> BN -> ReLU -> conv 3x3, plus upsample -> conv 1x1."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            nn.BatchNorm2d(cin),
            nn.ReLU(),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(cin, cout, 3, padding=1),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
            nn.Conv2d(cout, cout, 3, padding=1),
        )
        self.shortcut = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(cin, cout, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.residual(x) + self.shortcut(x)


class DownBlock(nn.Module):
    """(ReLU ->) conv 3x3 -> ReLU -> conv 3x3 (-> avg-pool 2), plus (conv 1x1 ->) avg-pool.
    `first` is the optimised input block: no ReLU on the image, pool before the 1x1 conv."""

    def __init__(self, cin: int, cout: int, down: bool, first: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = [] if first else [nn.ReLU()]
        layers += [sn(nn.Conv2d(cin, cout, 3, padding=1)), nn.ReLU(), sn(nn.Conv2d(cout, cout, 3, padding=1))]
        if down:
            layers.append(nn.AvgPool2d(2))
        self.residual = nn.Sequential(*layers)
        self.first = first
        self.down = down
        self.project = sn(nn.Conv2d(cin, cout, 1)) if (cin != cout or down) else None

    def forward(self, x: Tensor) -> Tensor:
        skip = x
        if self.first:
            skip = self.project(F.avg_pool2d(skip, 2))
        else:
            if self.project is not None:
                skip = self.project(skip)
            if self.down:
                skip = F.avg_pool2d(skip, 2)
        return self.residual(x) + skip


class SumPool(nn.Module):
    """ReLU then the sum over positions (the paper's global sum pooling)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x).sum(dim=(2, 3))


def _init(module: nn.Module) -> None:
    # Mimicry's choice: xavier-uniform, gain sqrt(2) in residual paths, 1 in shortcuts and dense layers
    for name, layer in module.named_modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            weight = (
                layer.parametrizations.weight.original if hasattr(layer, "parametrizations") else layer.weight
            )
            gain = math.sqrt(2) if "residual" in name else 1.0
            nn.init.xavier_uniform_(weight, gain)
            nn.init.zeros_(layer.bias)


def build_sngan(latent_dim: int, image_size: int = 32, channels: int = 3, width: int = 0, **_: int) -> Pair:
    width = width or 256
    s = start_size(image_size, 3, "sngan")
    generator = Generator(
        latent_dim,
        nn.Sequential(
            nn.Linear(latent_dim, width * s * s),
            Reshape(width, s, s),
            UpBlock(width, width),
            UpBlock(width, width),
            UpBlock(width, width),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, channels, 3, padding=1),
            nn.Tanh(),
        ),
    )
    d_width = max(1, width // 2)
    discriminator = Discriminator(
        nn.Sequential(
            DownBlock(channels, d_width, down=True, first=True),
            DownBlock(d_width, d_width, down=True),
            DownBlock(d_width, d_width, down=False),
            DownBlock(d_width, d_width, down=False),
            SumPool(),
        ),
        sn(nn.Linear(d_width, 1)),
    )
    _init(generator)
    _init(discriminator)
    return generator, discriminator
