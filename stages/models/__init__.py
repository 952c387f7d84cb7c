"""Model families: a registry from architecture name to a builder of (generator, discriminator).

One file per family; each builder takes the family's ModelConfig and the image shape.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from stages.models import dcgan

GanBuilder = Callable[..., tuple[nn.Module, nn.Module]]

ARCHITECTURES: dict[str, GanBuilder] = {
    "dcgan3": dcgan.build_dcgan3,
}


def build_gan(arch: str, latent_dim: int, image_size: int, channels: int = 3) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) of a registered architecture, weights initialised."""
    return ARCHITECTURES[arch](latent_dim=latent_dim, image_size=image_size, channels=channels)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
