"""Model families: a registry from architecture name to a builder of (generator, discriminator).

One file per family; every builder takes (latent_dim, image_size, channels, n_classes,
width) and ignores what its architecture does not use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from stages.models import cgan, dcgan, sagan, sngan, wgan
from stages.models.layers import fuse_upsample_convs


@dataclass(frozen=True)
class Architecture:
    family: str  # the column of the leaderboard: DCGAN, CGAN, WGAN, SADCGAN, SNGAN
    build: Callable[..., tuple[nn.Module, nn.Module]]
    conditional: bool = False  # G and D take class labels
    has_width: bool = False  # accepts model.width
    image_size: int = 32  # the size it was designed for (the benchmark's data)
    in_table: bool = True  # a row of the all-families table (profiles table, table_gpu, gpu)


ARCHITECTURES: dict[str, Architecture] = {
    "dcgan1": Architecture("DCGAN", dcgan.build_dcgan1),
    "dcgan2": Architecture("DCGAN", dcgan.build_dcgan2),
    "dcgan3": Architecture("DCGAN", dcgan.build_dcgan3),
    "dcgan4": Architecture("DCGAN", dcgan.build_dcgan4),
    "dcgan5": Architecture("DCGAN", dcgan.build_dcgan5),
    "dcgan_bn_input": Architecture("DCGAN", dcgan.build_dcgan_bn_input),
    "dcgan_relu": Architecture("DCGAN", dcgan.build_dcgan_relu),
    "dcgan_radford64": Architecture("DCGAN", dcgan.build_dcgan_radford64, image_size=64, in_table=False),
    "cgan_test": Architecture("CGAN", cgan.build_cgan_test, conditional=True),
    "cgan1": Architecture("CGAN", cgan.build_cgan1, conditional=True),
    "cgan2": Architecture("CGAN", cgan.build_cgan2, conditional=True),
    "cgan3": Architecture("CGAN", cgan.build_cgan3, conditional=True),
    "wgan1": Architecture("WGAN", wgan.build_wgan1),
    "wgan2": Architecture("WGAN", wgan.build_wgan2),
    "sadcgan1": Architecture("SADCGAN", sagan.build_sadcgan1),
    "sadcgan2": Architecture("SADCGAN", sagan.build_sadcgan2),
    "sngan": Architecture("SNGAN", sngan.build_sngan, has_width=True),
    # opt-in: not one of the 17 configs the tables were run with
    "sngan_projection": Architecture(
        "SNGAN", sngan.build_sngan_projection, conditional=True, has_width=True, in_table=False
    ),
}


def build_gan(
    arch: str,
    latent_dim: int,
    image_size: int,
    channels: int = 3,
    n_classes: int = 10,
    width: int = 0,
    fast_layers: bool = True,
) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) of a registered architecture, weights initialised.
    `n_classes` matters to conditional architectures only, `width` to those with has_width.
    `fast_layers` computes upsample+conv pairs as one op (layers.UpsampleConv2d): the same
    function and state_dict, different rounding."""
    spec = ARCHITECTURES[arch]
    generator, discriminator = spec.build(
        latent_dim=latent_dim,
        image_size=image_size,
        channels=channels,
        n_classes=n_classes if spec.conditional else 0,
        width=width,
    )
    if fast_layers:
        fuse_upsample_convs(generator)
        fuse_upsample_convs(discriminator)
    return generator, discriminator


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
