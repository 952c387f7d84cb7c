"""Conditional GAN family: the deck's testing model and CGAN 1-3.

G gets the one-hot class concatenated to z; D gets it concatenated to its pooled
features before the dense head (layers.Generator / layers.Discriminator do both).
"""

from __future__ import annotations

from torch import Tensor, nn

from stages.models.dcgan import transpose_generator, upsample_generator
from stages.models.layers import (
    Discriminator,
    Generator,
    Pair,
    Reshape,
    conv_same,
    conv_transpose_same,
    initialised,
    keras_bn,
    prelu,
    random_normal,
    sn,
    start_size,
)


def build_cgan_test(
    latent_dim: int, image_size: int = 32, channels: int = 3, n_classes: int = 10, **_: int
) -> Pair:
    """The deck's testing CGAN (FID 55 there): DCGAN 1's G with the label concatenated to z.
    D as its slide lists it: Conv 64 3x3 s1, Conv 128 3x3 s2, Conv 128 3x3 s2 (LeakyReLU
    0.2 each) -> Flatten (8 x 8 x 128 at 32 px) + label -> Dropout 0.4 -> Dense 1."""
    s = image_size // 4
    generator = Generator(
        latent_dim, upsample_generator(latent_dim, image_size, channels, latent_dim + n_classes), n_classes
    )
    layers: list[nn.Module] = [conv_same(channels, 64, 3), nn.LeakyReLU(0.2)]
    for cin in (64, 128):
        layers += [conv_same(cin, 128, 3, stride=2), nn.LeakyReLU(0.2)]
    head = nn.Sequential(nn.Dropout(0.4), nn.Linear(128 * s * s + n_classes, 1))
    discriminator = Discriminator(nn.Sequential(*layers, nn.Flatten()), head, n_classes)
    return initialised(generator, discriminator)


def cgan_discriminator(channels: int, n_classes: int) -> Discriminator:
    """CGAN 1-3's D: 4 x [Conv 64/128/256/512 4x4 s2 (RandomNormal), BN (Keras 0.8),
    LeakyReLU 0.2] -> GlobalAveragePooling -> concat label -> Dense 512 ReLU -> Dense 1."""
    layers: list[nn.Module] = []
    cin = channels
    for cout in (64, 128, 256, 512):
        layers += [random_normal(conv_same(cin, cout, 4, stride=2)), keras_bn(cout, 0.8), nn.LeakyReLU(0.2)]
        cin = cout
    features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    head = nn.Sequential(nn.Linear(512 + n_classes, 512), nn.ReLU(), nn.Linear(512, 1))
    return Discriminator(features, head, n_classes)


def build_cgan1(
    latent_dim: int, image_size: int = 32, channels: int = 3, n_classes: int = 10, **_: int
) -> Pair:
    """CGAN 1 (the deck's best model, FID 36.5; 32.6 with a decaying lr)."""
    return _cgan(latent_dim, image_size, channels, n_classes, spectral=False)


def build_cgan2(
    latent_dim: int, image_size: int = 32, channels: int = 3, n_classes: int = 10, **_: int
) -> Pair:
    """CGAN 2 (FID 38.6): CGAN 1 with spectral normalisation on G's inner transposed convs."""
    return _cgan(latent_dim, image_size, channels, n_classes, spectral=True)


def _cgan(latent_dim: int, image_size: int, channels: int, n_classes: int, spectral: bool) -> Pair:
    """CGAN 1's G: Dense 512*2*2 ReLU -> BN 0.8 -> PReLU -> 2x2x512 (the slides put BN and
    PReLU before Reshape: per dense unit) -> ConvT 256, 128, 64 4x4 s2 (BN 0.8 + PReLU after
    each) -> ConvT C 4x4 s2 tanh (2 -> 32 px); cgan_discriminator. RandomNormal in the dense
    and inner transposed convs, as the slides list; CGAN 2's slide repeats CGAN 1's layers
    with less detail and is read as CGAN 1 plus spectral norm, initialisers included."""
    body = transpose_generator(
        latent_dim,
        image_size,
        channels,
        (512, 256, 128, 64),
        4,
        activation=nn.PReLU,
        bn_momentum=0.8,
        spectral=spectral,
        in_dim=latent_dim + n_classes,
        dense_activation=nn.ReLU(),
        norm_before_reshape=True,
        normal_inner=True,
    )
    return initialised(Generator(latent_dim, body, n_classes), cgan_discriminator(channels, n_classes))


class SkipUp(nn.Module):
    """Transposed conv block with a skip connection: x -> SN ConvT -> BN -> PReLU, plus
    x upsampled (nearest) and projected by a 1x1 conv to the new width."""

    def __init__(self, cin: int, cout: int, kernel: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            sn(conv_transpose_same(cin, cout, kernel)), keras_bn(cout, 0.8), prelu(cout)
        )
        self.skip = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(cin, cout, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.main(x) + self.skip(x)


def build_cgan3(
    latent_dim: int, image_size: int = 32, channels: int = 3, n_classes: int = 10, **_: int
) -> Pair:
    """CGAN 3 (FID 36.4): CGAN 2 with skip connections around each transposed conv and
    spectral norm on the dense layer (RandomNormal), then Reshape -> BN -> PReLU per channel
    as the slide orders them. The deck lists three 5x5 transposed convs from 2x2, which
    ends at 16 px; CGAN 2's four 4x4 layers are kept so the output is 32 px."""
    s = start_size(image_size, 4, "cgan3")
    body = nn.Sequential(
        sn(random_normal(nn.Linear(latent_dim + n_classes, 512 * s * s))),
        Reshape(512, s, s),
        keras_bn(512, 0.8),
        prelu(512),
        SkipUp(512, 256, 4),
        SkipUp(256, 128, 4),
        SkipUp(128, 64, 4),
        conv_transpose_same(64, channels, 4),
        nn.Tanh(),
    )
    generator = Generator(latent_dim, body, n_classes)
    discriminator = cgan_discriminator(channels, n_classes)
    return initialised(generator, discriminator)
