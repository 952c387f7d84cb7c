"""WGAN family (Arjovsky et al.): the deck's two critics, trained on the Wasserstein loss.

A critic is a discriminator whose output is a score, not a probability: the networks
here already end in a logit, so the family differs from DCGAN in its loss and
optimiser (conf/model/wgan*.yaml: weight clipping 0.01, 5 critic steps, RMSprop), and
wgan_gp reuses WGAN 1's networks with a gradient penalty instead of clipping.
"""

from __future__ import annotations

from stages.models.dcgan import (
    dcgan2_generator,
    dcgan3_discriminator,
    dcgan4_discriminator,
    upsample_generator,
)
from stages.models.layers import Generator, Pair, initialised


def build_wgan1(latent_dim: int, image_size: int = 32, channels: int = 3, **_: int) -> Pair:
    """WGAN 1 (FID 129 in the deck): DCGAN 1's upsampling G, DCGAN 3's critic. No batch
    norm in the critic, so it also takes a gradient penalty (wgan_gp)."""
    generator = Generator(latent_dim, upsample_generator(latent_dim, image_size, channels))
    critic = dcgan3_discriminator(channels, image_size)
    return initialised(generator, critic)


def build_wgan2(latent_dim: int, image_size: int = 32, channels: int = 3, **_: int) -> Pair:
    """WGAN 2 (FID 183): DCGAN 2's transposed-conv G, DCGAN 4's spectral-norm critic (with
    their initialisers: RandomNormal in G's dense layer and in the whole critic)."""
    generator = Generator(latent_dim, dcgan2_generator(latent_dim, image_size, channels))
    critic = dcgan4_discriminator(channels, image_size)
    return initialised(generator, critic)
