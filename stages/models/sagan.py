"""Self-attention DCGANs (the deck's SADCGAN 1-2): a SAGAN attention layer at 16x16.

SelfAttention (stages.models.layers) starts with gamma 0, so each model begins as the
DCGAN it extends and learns how much attention to mix in. Initialisers are those of the
DCGANs they extend (RandomNormal where the deck names it, else glorot-uniform, also for
the attention projections, which the deck leaves unstated).
"""

from __future__ import annotations

from stages.models.dcgan import (
    dcgan2_discriminator,
    dcgan2_generator,
    dcgan3_discriminator,
    dcgan4_generator,
)
from stages.models.layers import Generator, Pair, SelfAttention, initialised


def build_sadcgan1(latent_dim: int, image_size: int = 32, channels: int = 3, **_: int) -> Pair:
    """SADCGAN 1 (FID 50.3): DCGAN 2 with self-attention after D's first block (16x16x64)."""
    generator = Generator(latent_dim, dcgan2_generator(latent_dim, image_size, channels))
    discriminator = dcgan2_discriminator(channels, image_size, attention=SelfAttention(64))
    return initialised(generator, discriminator)


def build_sadcgan2(latent_dim: int, image_size: int = 32, channels: int = 3, **_: int) -> Pair:
    """SADCGAN 2 (FID 49.6): DCGAN 4's PReLU G with self-attention at 16x16x128, and DCGAN
    3's D with self-attention after its first block (16x16x64)."""
    generator = Generator(latent_dim, dcgan4_generator(latent_dim, image_size, channels, attention_after=1))
    discriminator = dcgan3_discriminator(channels, image_size, attention=SelfAttention(64))
    return initialised(generator, discriminator)
