"""DCGAN family of the GAN-101 deck, ported from Keras layer by layer.

Keras defaults kept: glorot-uniform weights with zero bias, 'same' padding, nearest
UpSampling2D. The sigmoid output of D becomes a logit (the loss applies the sigmoid).
"""

from __future__ import annotations

from torch import Tensor, nn


class Reshape(nn.Module):
    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: Tensor) -> Tensor:
        return x.view(x.shape[0], *self.shape)


def keras_init(module: nn.Module) -> None:
    """Keras' default initialisation: glorot-uniform kernels, zero biases."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


class Generator(nn.Module):
    """Maps z (N, latent_dim) to images (N, C, H, W) in [-1, 1]."""

    def __init__(self, latent_dim: int, body: nn.Sequential) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.body = body

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.body(z)


class Discriminator(nn.Module):
    """Maps images (N, C, H, W) in [-1, 1] to real/fake logits (N,)."""

    def __init__(self, body: nn.Sequential) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.body(x).squeeze(1)


def build_dcgan3(latent_dim: int, image_size: int = 32, channels: int = 3) -> tuple[Generator, Discriminator]:
    """DCGAN 3 (deck, 'Third Model'): the deck's best unconditional DCGAN, FID 47.8 there.

    G: Dense 128*8*8 -> LeakyReLU 0.2 -> 8x8x128 -> [UpSampling, Conv 128 3x3, LeakyReLU]
       -> UpSampling, Conv C 3x3, tanh.
    D: Conv 64 3x3 s2 -> LeakyReLU 0.2 -> Conv 128 3x3 s2 -> LeakyReLU 0.2 -> Flatten -> Dense 1.
    """
    if image_size % 4:
        raise ValueError(f"dcgan3 needs an image size divisible by 4, got {image_size}")
    base = image_size // 4
    generator = Generator(
        latent_dim,
        nn.Sequential(
            nn.Linear(latent_dim, 128 * base * base),
            nn.LeakyReLU(0.2),
            Reshape(128, base, base),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(128, 128, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(128, channels, 3, padding=1),
            nn.Tanh(),
        ),
    )
    discriminator = Discriminator(
        nn.Sequential(
            nn.Conv2d(channels, 64, 3, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(64, 128, 3, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(128 * base * base, 1),
        )
    )
    keras_init(generator)
    keras_init(discriminator)
    return generator, discriminator
