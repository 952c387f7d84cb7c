"""Model shapes, ranges and parameter counts fixed by the deck's layer sizes."""

from __future__ import annotations

import torch

from stages.models import ARCHITECTURES, build_gan, count_parameters
from stages.models.featurenet import FeatureNet


def test_dcgan3_maps_noise_to_images_in_range() -> None:
    torch.manual_seed(0)
    generator, discriminator = build_gan("dcgan3", latent_dim=128, image_size=32)
    images = generator(torch.randn(5, 128))
    assert images.shape == (5, 3, 32, 32)
    assert images.min() >= -1 and images.max() <= 1
    assert images.std() > 0  # not a constant image
    logits = discriminator(images)
    assert logits.shape == (5,)


def test_dcgan3_parameter_counts_follow_the_deck() -> None:
    generator, discriminator = build_gan("dcgan3", latent_dim=128, image_size=32)
    # G: Dense 128->128*8*8, Conv 128->128 3x3, Conv 128->3 3x3
    assert count_parameters(generator) == (128 * 8192 + 8192) + (128 * 128 * 9 + 128) + (128 * 3 * 9 + 3)
    assert count_parameters(generator) == 1_207_811
    # D: Conv 3->64 3x3, Conv 64->128 3x3, Dense 128*8*8->1
    assert count_parameters(discriminator) == (3 * 64 * 9 + 64) + (64 * 128 * 9 + 128) + (8192 + 1)


def test_every_registered_architecture_builds() -> None:
    for arch in ARCHITECTURES:
        generator, discriminator = build_gan(arch, latent_dim=16, image_size=32)
        out = generator(torch.randn(2, 16))
        assert out.shape == (2, 3, 32, 32)
        assert discriminator(out).shape == (2,)


def test_featurenet_layers_are_named_like_vgg_and_embed_has_num_features() -> None:
    model = FeatureNet(num_classes=10, width=8, convs=(2, 2, 1, 1))
    names = [name for name, _ in model.features.named_children() if name.startswith("conv")]
    assert names == ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv4_1"]
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    assert model.embed(images).shape == (3, model.num_features)
    assert model(images).shape == (3, 10)
