"""DCGAN family: the deck's models 1-5 and the fourth seed's two ablations of model 3.

Ported from the Keras descriptions layer by layer. A layer for which the deck names
RandomNormal(0.02) is marked `random_normal`; every other layer starts from Keras'
default glorot-uniform (layers.keras_init). Where the deck
lists a stack of transposed convolutions without saying what sits between them, the
DCGAN convention is used (batch norm + the model's activation) and the docstring says so.
"""

from __future__ import annotations

from torch import nn

from stages.models.layers import (
    Discriminator,
    Generator,
    Pair,
    Reshape,
    SelfAttention,
    conv_same,
    conv_transpose_same,
    initialised,
    keras_bn,
    prelu,
    radford_init,
    random_normal,
    sn,
    start_size,
)


def upsample_generator(
    latent_dim: int, image_size: int, channels: int, in_dim: int | None = None
) -> nn.Sequential:
    """DCGAN 1's G: Dense 256*s*s -> LeakyReLU 0.2 -> s x s x 256 -> 3 x [UpSampling2D,
    Conv 128 3x3, LeakyReLU 0.2] -> Conv C 3x3 tanh. `in_dim` > latent_dim for a CGAN."""
    s = start_size(image_size, 3, "dcgan1")
    layers: list[nn.Module] = [
        nn.Linear(in_dim or latent_dim, 256 * s * s),
        nn.LeakyReLU(0.2),
        Reshape(256, s, s),
    ]
    cin = 256
    for _ in range(3):
        layers += [nn.Upsample(scale_factor=2), conv_same(cin, 128, 3), nn.LeakyReLU(0.2)]
        cin = 128
    layers += [conv_same(128, channels, 3), nn.Tanh()]
    return nn.Sequential(*layers)


def dcgan1_features(channels: int) -> nn.Sequential:
    """DCGAN 1's D body: Conv 64 3x3 s1, then 128, 128, 256 3x3 s2, LeakyReLU 0.2 each; flattened."""
    layers: list[nn.Module] = [conv_same(channels, 64, 3), nn.LeakyReLU(0.2)]
    for cin, cout in ((64, 128), (128, 128), (128, 256)):
        layers += [conv_same(cin, cout, 3, stride=2), nn.LeakyReLU(0.2)]
    return nn.Sequential(*layers, nn.Flatten())


def build_dcgan1(latent_dim: int, image_size: int = 32, channels: int = 3, **_: int) -> Pair:
    """DCGAN 1 (FID 53.2 in the deck): upsampling G; D ends Flatten -> Dropout 0.4 -> Dense 1."""
    s = image_size // 8
    generator = Generator(latent_dim, upsample_generator(latent_dim, image_size, channels))
    discriminator = Discriminator(
        dcgan1_features(channels), nn.Sequential(nn.Dropout(0.4), nn.Linear(256 * s * s, 1))
    )
    return initialised(generator, discriminator)


def transpose_generator(
    latent_dim: int,
    image_size: int,
    channels: int,
    widths: tuple[int, ...],
    kernel: int,
    activation: type[nn.Module] | None = None,
    bn_momentum: float = 0.99,
    spectral: bool = False,
    in_dim: int | None = None,
    dense_activation: nn.Module | None = None,
    attention_after: int | None = None,
    norm_before_reshape: bool = False,
    normal_inner: bool = False,
) -> nn.Sequential:
    """Dense widths[0]*s*s (RandomNormal, as every deck model using it says) -> reshape ->
    BN + activation over widths[0] channels -> Conv2DTranspose stride 2 to each further
    width (with BN + activation between) -> Conv2DTranspose C, tanh.

    widths[0] is the dense map's depth; one transposed conv per further width plus the
    output one, each doubling the size. activation None = LeakyReLU 0.2; PReLU is per channel.
    The deck's Dense -> Reshape -> BatchNormalization normalises per channel, over batch x
    H x W; `norm_before_reshape` (CGAN 1-2, whose slides put BN and PReLU before Reshape)
    normalises each dense unit instead. `normal_inner`: RandomNormal inner transposed convs.
    `attention_after` = i puts a self-attention layer after the i-th inner transposed conv.
    """
    doublings = len(widths)
    s = start_size(image_size, doublings, "transpose generator")

    def act(c: int) -> nn.Module:
        return prelu(c) if activation is nn.PReLU else (activation or _leaky)()

    dense_units = widths[0] * s * s
    layers: list[nn.Module] = [random_normal(nn.Linear(in_dim or latent_dim, dense_units))]
    if dense_activation is not None:
        layers.append(dense_activation)
    reshape = Reshape(widths[0], s, s)
    if norm_before_reshape:
        layers += [keras_bn(dense_units, bn_momentum, dims=1), act(dense_units), reshape]
    else:
        layers += [reshape, keras_bn(widths[0], bn_momentum), act(widths[0])]
    for i, (cin, cout) in enumerate(zip(widths, widths[1:], strict=False)):
        conv = sn(conv_transpose_same(cin, cout, kernel), spectral)
        layers += [random_normal(conv) if normal_inner else conv, keras_bn(cout, bn_momentum), act(cout)]
        if i == attention_after:
            layers.append(SelfAttention(cout))
    layers += [conv_transpose_same(widths[-1], channels, kernel), nn.Tanh()]
    return nn.Sequential(*layers)


def _leaky() -> nn.Module:
    return nn.LeakyReLU(0.2)


def dcgan2_generator(latent_dim: int, image_size: int, channels: int) -> nn.Sequential:
    """DCGAN 2's G: Dense 128*8*8 (RandomNormal) -> 8x8x128 -> BN (Keras momentum 0.8) ->
    LeakyReLU -> ConvT 128 5x5 s2 -> [BN, LeakyReLU: the DCGAN convention] -> ConvT C 5x5
    s2 tanh."""
    return transpose_generator(latent_dim, image_size, channels, (128, 128), 5, bn_momentum=0.8)


def dcgan2_discriminator(channels: int, image_size: int, attention: nn.Module | None = None) -> Discriminator:
    """DCGAN 2's D: Conv 64 5x5 s2 (RandomNormal) -> LeakyReLU -> Conv 128 5x5 s2 -> BN 0.8
    -> LeakyReLU -> Flatten -> Dropout 0.4 -> Dense 1. `attention` goes after the first
    block (SADCGAN 1)."""
    s = image_size // 4
    layers: list[nn.Module] = [random_normal(conv_same(channels, 64, 5, stride=2)), nn.LeakyReLU(0.2)]
    if attention is not None:
        layers.append(attention)
    layers += [conv_same(64, 128, 5, stride=2), keras_bn(128, 0.8), nn.LeakyReLU(0.2), nn.Flatten()]
    return Discriminator(nn.Sequential(*layers), nn.Sequential(nn.Dropout(0.4), nn.Linear(128 * s * s, 1)))


def build_dcgan2(latent_dim: int, image_size: int = 32, channels: int = 3, **_: int) -> Pair:
    """DCGAN 2 (FID 54.3): transposed convolutions in G, batch norm in D, N(0, 0.02) weights
    in G's dense layer and D's first conv."""
    generator = Generator(latent_dim, dcgan2_generator(latent_dim, image_size, channels))
    discriminator = dcgan2_discriminator(channels, image_size)
    return initialised(generator, discriminator)


def dcgan3_generator(
    latent_dim: int, image_size: int, channels: int, activation: type[nn.Module] = nn.LeakyReLU
) -> nn.Sequential:
    """DCGAN 3's G: Dense 128*8*8 -> act -> 8x8x128 -> UpSampling, Conv 128 3x3, act ->
    UpSampling, Conv C 3x3, tanh. act = LeakyReLU 0.2 (the deck) or ReLU (dcgan_relu)."""
    s = start_size(image_size, 2, "dcgan3")

    def act() -> nn.Module:
        return nn.LeakyReLU(0.2) if activation is nn.LeakyReLU else activation()

    return nn.Sequential(
        nn.Linear(latent_dim, 128 * s * s),
        act(),
        Reshape(128, s, s),
        nn.Upsample(scale_factor=2),
        conv_same(128, 128, 3),
        act(),
        nn.Upsample(scale_factor=2),
        conv_same(128, channels, 3),
        nn.Tanh(),
    )


def dcgan3_discriminator(
    channels: int, image_size: int, input_bn: bool = False, attention: nn.Module | None = None
) -> Discriminator:
    """DCGAN 3's D: Conv 64 3x3 s2 -> LeakyReLU -> Conv 128 3x3 s2 -> LeakyReLU -> Flatten ->
    Dense 1. `input_bn`: batch norm after the first conv (the fourth seed's ablation, which
    the DCGAN paper advises against); `attention` goes after the first block (SADCGAN 2)."""
    s = image_size // 4
    layers: list[nn.Module] = [conv_same(channels, 64, 3, stride=2)]
    if input_bn:
        layers.append(keras_bn(64))
    layers.append(nn.LeakyReLU(0.2))
    if attention is not None:
        layers.append(attention)
    layers += [conv_same(64, 128, 3, stride=2), nn.LeakyReLU(0.2), nn.Flatten()]
    return Discriminator(nn.Sequential(*layers), nn.Linear(128 * s * s, 1))


def build_dcgan3(latent_dim: int, image_size: int = 32, channels: int = 3, **_: int) -> Pair:
    """DCGAN 3 (the deck's best unconditional DCGAN, FID 47.8 there)."""
    generator = Generator(latent_dim, dcgan3_generator(latent_dim, image_size, channels))
    discriminator = dcgan3_discriminator(channels, image_size)
    return initialised(generator, discriminator)


def build_dcgan_bn_input(latent_dim: int, image_size: int = 32, channels: int = 3, **_: int) -> Pair:
    """Fourth seed, ablation i: DCGAN 3 with batch norm on D's input layer."""
    generator = Generator(latent_dim, dcgan3_generator(latent_dim, image_size, channels))
    discriminator = dcgan3_discriminator(channels, image_size, input_bn=True)
    return initialised(generator, discriminator)


def build_dcgan_relu(latent_dim: int, image_size: int = 32, channels: int = 3, **_: int) -> Pair:
    """Fourth seed, ablation ii: DCGAN 3 with ReLU instead of LeakyReLU in G."""
    generator = Generator(latent_dim, dcgan3_generator(latent_dim, image_size, channels, nn.ReLU))
    discriminator = dcgan3_discriminator(channels, image_size)
    return initialised(generator, discriminator)


def dcgan4_generator(
    latent_dim: int, image_size: int, channels: int, attention_after: int | None = None
) -> nn.Sequential:
    """DCGAN 4's G: Dense 512*4*4 (RandomNormal) -> 4x4x512 -> BN -> PReLU -> ConvT 256, 128
    5x5 s2 [BN, PReLU between: the DCGAN convention] -> ConvT C 5x5 s2 tanh."""
    return transpose_generator(
        latent_dim,
        image_size,
        channels,
        (512, 256, 128),
        5,
        activation=nn.PReLU,
        attention_after=attention_after,
    )


def dcgan4_discriminator(channels: int, image_size: int) -> Discriminator:
    """DCGAN 4's D: 4 x [spectral-norm Conv 64/128/256/512 4x4 s2, LeakyReLU 0.2, Dropout 0.3]
    -> Flatten -> Dense 1, every layer RandomNormal (the deck's "weights initialization")."""
    s = start_size(image_size, 4, "dcgan4")
    layers: list[nn.Module] = []
    cin = channels
    for cout in (64, 128, 256, 512):
        layers += [sn(conv_same(cin, cout, 4, stride=2)), nn.LeakyReLU(0.2), nn.Dropout(0.3)]
        cin = cout
    return random_normal(Discriminator(nn.Sequential(*layers, nn.Flatten()), nn.Linear(512 * s * s, 1)))


def build_dcgan4(latent_dim: int, image_size: int = 32, channels: int = 3, **_: int) -> Pair:
    """DCGAN 4 (FID 61.8): PReLU in G, spectral normalisation in D, N(0, 0.02) weights in
    G's dense layer and all of D."""
    generator = Generator(latent_dim, dcgan4_generator(latent_dim, image_size, channels))
    discriminator = dcgan4_discriminator(channels, image_size)
    return initialised(generator, discriminator)


def upsample_block(cin: int, cout: int, last: bool) -> list[nn.Module]:
    """The deck's `upsample_block`: UpSampling2D, Conv 3x3 (no bias), batch norm, then
    LeakyReLU 0.2 for inner blocks and tanh for the last. The last block keeps its batch
    norm, as the Keras WGAN-GP example the block comes from writes it (`use_bn=True` before
    tanh). Without it DCGAN 5 fell to one face with seed 0 and scored far worse with all
    three seeds tried (README, the table's notes)."""
    layers: list[nn.Module] = [nn.Upsample(scale_factor=2), conv_same(cin, cout, 3, bias=False)]
    return layers + [keras_bn(cout), nn.Tanh() if last else nn.LeakyReLU(0.2)]


def build_dcgan5(latent_dim: int, image_size: int = 32, channels: int = 3, **_: int) -> Pair:
    """DCGAN 5 (FID 62.5): Dense 512*2*2 (no bias) -> LeakyReLU -> 2x2x512 -> upsample blocks
    128, 64, 64, C (2 -> 32 px). D is DCGAN 3's."""
    s = start_size(image_size, 4, "dcgan5")
    layers: list[nn.Module] = [
        nn.Linear(latent_dim, 512 * s * s, bias=False),
        nn.LeakyReLU(0.2),
        Reshape(512, s, s),
    ]
    widths = (512, 128, 64, 64, channels)
    for i, (cin, cout) in enumerate(zip(widths, widths[1:], strict=False)):
        layers += upsample_block(cin, cout, last=i == len(widths) - 2)
    generator = Generator(latent_dim, nn.Sequential(*layers))
    discriminator = dcgan3_discriminator(channels, image_size)
    return initialised(generator, discriminator)


def build_dcgan_radford64(latent_dim: int = 100, image_size: int = 64, channels: int = 3, **_: int) -> Pair:
    """The 64x64 DCGAN of Radford et al. (2016), as most people write it (pytorch/examples):
    G: z as 1x1 -> ConvT 512 4x4 (4x4) -> ConvT 256, 128, 64 4x4 s2, each with BN + ReLU ->
    ConvT C 4x4 s2, tanh. D mirrored: Conv 64 4x4 s2, LeakyReLU 0.2 -> Conv 128, 256, 512
    4x4 s2 with BN + LeakyReLU -> Conv 1 4x4 (a logit). No biases before batch norm;
    conv weights N(0, 0.02), batch-norm scales N(1, 0.02) (pytorch/examples' weights_init).
    Here to compare ganrepro's loop with a hand-written one."""
    if image_size != 64:
        raise ValueError(f"dcgan_radford64 is the 64x64 DCGAN: it needs data.image_size=64, got {image_size}")
    widths = (512, 256, 128, 64)
    layers: list[nn.Module] = [
        Reshape(latent_dim, 1, 1),
        nn.ConvTranspose2d(latent_dim, widths[0], 4, 1, 0, bias=False),
        nn.BatchNorm2d(widths[0]),
        nn.ReLU(),
    ]
    for cin, cout in zip(widths, widths[1:], strict=False):
        layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
    layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
    generator = Generator(latent_dim, nn.Sequential(*layers))
    features: list[nn.Module] = [nn.Conv2d(channels, 64, 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
    for cin, cout in zip(widths[::-1], widths[::-1][1:], strict=False):
        features += [nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2)]
    head = nn.Sequential(nn.Conv2d(widths[0], 1, 4, 1, 0, bias=False), nn.Flatten())
    discriminator = Discriminator(nn.Sequential(*features), head)
    return initialised(generator, discriminator, radford_init)
