"""SNGAN (Miyato et al. 2018), the modern baseline none of the seeds had.

The CIFAR-10 ResNet of the paper and of Mimicry: G = dense 4x4 -> three up-blocks ->
BN, ReLU, conv 3x3, tanh; D = an optimised first block, three residual blocks (two
down-sampling), ReLU, global sum pooling, dense 1, every layer of D spectral-normalised.
Trained with the hinge loss, TTUR learning rates and an EMA of G (conf/model/sngan.yaml).
`width` is G's channel count (256 in the paper); D uses half of it (128).

`sngan_projection` is its class-conditional form (Miyato & Koyama 2018): the labels set
the scale and shift of every batch norm in G's up-blocks, and D adds <embed(y), h> to its
score of the pooled features h.
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


class ClassBatchNorm2d(nn.Module):
    """Batch norm whose scale and shift are looked up per class (conditional BN, as in
    Miyato & Koyama 2018). Scales start at N(1, 0.02) and shifts at 0, as Mimicry's does:
    near plain BN, yet each class a little different from the first step."""

    def __init__(self, channels: int, n_classes: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.scale = nn.Embedding(n_classes, channels)
        self.shift = nn.Embedding(n_classes, channels)
        nn.init.normal_(self.scale.weight, 1.0, 0.02)
        nn.init.zeros_(self.shift.weight)

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        scale = self.scale(labels)[:, :, None, None]
        shift = self.shift(labels)[:, :, None, None]
        return self.norm(x) * scale + shift


class ClassUpBlock(nn.Module):
    """UpBlock with class-conditional batch norms: the labels reach every block."""

    def __init__(self, cin: int, cout: int, n_classes: int) -> None:
        super().__init__()
        self.norm_in = ClassBatchNorm2d(cin, n_classes)
        # residual_* names: _init gives them the residual gain; (upsample, conv) kept as a
        # pair so fuse_upsample_convs makes them one op
        self.residual_up = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(cin, cout, 3, padding=1))
        self.norm_mid = ClassBatchNorm2d(cout, n_classes)
        self.residual_conv = nn.Conv2d(cout, cout, 3, padding=1)
        self.shortcut = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(cin, cout, 1))

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        h = self.residual_up(F.relu(self.norm_in(x, labels)))
        h = self.residual_conv(F.relu(self.norm_mid(h, labels)))
        return h + self.shortcut(x)


class ClassGeneratorBody(nn.Module):
    """SNGAN's generator with class-conditional batch norm in its three up-blocks."""

    def __init__(self, latent_dim: int, width: int, start: int, channels: int, n_classes: int) -> None:
        super().__init__()
        self.dense = nn.Sequential(nn.Linear(latent_dim, width * start * start), Reshape(width, start, start))
        self.blocks = nn.ModuleList(ClassUpBlock(width, width, n_classes) for _ in range(3))
        self.out = nn.Sequential(*_to_image(width, channels))

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        h = self.dense(z)
        for block in self.blocks:
            h = block(h, labels)
        return self.out(h)


class ClassGenerator(Generator):
    """A conditional Generator whose body takes the labels itself (no one-hot on z)."""

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.body(z, labels)


class ProjectionDiscriminator(Discriminator):
    """D(x, y) = head(h) + <embed(y), h> for features h (the projection discriminator of
    Miyato & Koyama 2018), in place of the one-hot concatenated before the head."""

    def __init__(self, features: nn.Module, head: nn.Module, n_classes: int, width: int) -> None:
        super().__init__(features, head, n_classes)
        self.embed = sn(nn.Embedding(n_classes, width))

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = self.features(x)
        return self.head(h).squeeze(1) + (self.embed(labels) * h).sum(dim=1)


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
        if isinstance(layer, (nn.Conv2d, nn.Linear)) or (
            isinstance(layer, nn.Embedding) and hasattr(layer, "parametrizations")
        ):
            weight = (
                layer.parametrizations.weight.original if hasattr(layer, "parametrizations") else layer.weight
            )
            gain = math.sqrt(2) if "residual" in name else 1.0
            nn.init.xavier_uniform_(weight, gain)
            if getattr(layer, "bias", None) is not None:
                nn.init.zeros_(layer.bias)


def _to_image(width: int, channels: int) -> list[nn.Module]:
    """G's last layers: BN, ReLU, conv 3x3 to the image's channels, tanh."""
    return [nn.BatchNorm2d(width), nn.ReLU(), nn.Conv2d(width, channels, 3, padding=1), nn.Tanh()]


def _sngan_features(channels: int, d_width: int) -> nn.Sequential:
    return nn.Sequential(
        DownBlock(channels, d_width, down=True, first=True),
        DownBlock(d_width, d_width, down=True),
        DownBlock(d_width, d_width, down=False),
        DownBlock(d_width, d_width, down=False),
        SumPool(),
    )


def build_sngan_projection(
    latent_dim: int, image_size: int = 32, channels: int = 3, n_classes: int = 10, width: int = 0, **_: int
) -> Pair:
    """Class-conditional SNGAN (Miyato & Koyama 2018; Mimicry's cGAN-PD): SNGAN's networks
    with class-conditional batch norm in G's up-blocks and a projection head on D."""
    width = width or 256
    s = start_size(image_size, 3, "sngan_projection")
    generator = ClassGenerator(
        latent_dim, ClassGeneratorBody(latent_dim, width, s, channels, n_classes), n_classes
    )
    d_width = max(1, width // 2)
    discriminator = ProjectionDiscriminator(
        _sngan_features(channels, d_width), sn(nn.Linear(d_width, 1)), n_classes, d_width
    )
    _init(generator)
    _init(discriminator)
    return generator, discriminator


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
            *_to_image(width, channels),
        ),
    )
    d_width = max(1, width // 2)
    discriminator = Discriminator(_sngan_features(channels, d_width), sn(nn.Linear(d_width, 1)))
    _init(generator)
    _init(discriminator)
    return generator, discriminator
