"""Every family's networks: shapes, ranges, conditioning, and parameter counts fixed by
the deck's layer sizes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from stages.core.schema import Config
from stages.models.featurenet import FeatureNet
from stages.models.layers import SelfAttention
from stages.models.registry import ARCHITECTURES, build_gan, count_parameters
from tests.conftest import script_module

MODEL_CONFIGS = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "conf/model").glob("*.yaml"))


def conv(cin: int, cout: int, k: int, bias: bool = True) -> int:
    return cin * cout * k * k + (cout if bias else 0)


def dense(cin: int, cout: int, bias: bool = True) -> int:
    return cin * cout + (cout if bias else 0)


def test_every_family_of_the_issue_has_a_config() -> None:
    assert MODEL_CONFIGS == sorted(
        ["dcgan1", "dcgan2", "dcgan3", "dcgan4", "dcgan5", "dcgan_bn_input", "dcgan_relu", "cgan_test"]
        + ["cgan1", "cgan2", "cgan3", "wgan1", "wgan2", "wgan_gp", "sadcgan1", "sadcgan2", "sngan"]
        + ["dcgan_radford64"]  # the speed issue's reference architecture
        + ["sngan_projection"]  # the class-conditional SNGAN, opt-in
    )


@pytest.mark.parametrize("family", MODEL_CONFIGS)
def test_each_config_maps_noise_to_images_in_range(base_config: Config, family: str) -> None:
    model = base_config.models[family]
    torch.manual_seed(0)
    size = ARCHITECTURES[model.arch].image_size
    generator, discriminator = build_gan(model.arch, model.latent_dim, size, n_classes=10, width=model.width)
    z = torch.randn(4, model.latent_dim)
    labels = torch.tensor([0, 3, 7, 9])
    images = generator.eval()(z, labels)
    assert images.shape == (4, 3, size, size)
    assert images.min() >= -1 and images.max() <= 1
    assert images.std() > 0  # not a constant image
    assert discriminator.eval()(images, labels).shape == (4,)
    if ARCHITECTURES[model.arch].conditional:
        # the label changes the image for the same z, and D's score for the same image
        other = generator(z, (labels + 1) % 10)
        assert not torch.allclose(images, other)
        assert not torch.allclose(discriminator(images, labels), discriminator(images, (labels + 1) % 10))


def test_dcgan3_parameter_counts_follow_the_deck() -> None:
    generator, discriminator = build_gan("dcgan3", latent_dim=128, image_size=32)
    # G: Dense 128->128*8*8, Conv 128->128 3x3, Conv 128->3 3x3
    assert count_parameters(generator) == dense(128, 8192) + conv(128, 128, 3) + conv(128, 3, 3) == 1_207_811
    # D: Conv 3->64 3x3, Conv 64->128 3x3, Dense 128*8*8->1
    assert count_parameters(discriminator) == conv(3, 64, 3) + conv(64, 128, 3) + dense(8192, 1)


def test_dcgan1_parameter_counts_follow_the_deck() -> None:
    generator, discriminator = build_gan("dcgan1", latent_dim=128, image_size=32)
    # G: Dense 128->256*4*4, Conv 256->128, 128->128 twice, 128->3, all 3x3
    assert count_parameters(generator) == (
        dense(128, 4096) + conv(256, 128, 3) + 2 * conv(128, 128, 3) + conv(128, 3, 3)
    )
    # D: Conv 3->64, 64->128, 128->128, 128->256 (3x3), Dense 256*4*4 -> 1
    assert count_parameters(discriminator) == (
        conv(3, 64, 3) + conv(64, 128, 3) + conv(128, 128, 3) + conv(128, 256, 3) + dense(4096, 1)
    )


def test_dcgan4_discriminator_count_follows_the_deck() -> None:
    _, discriminator = build_gan("dcgan4", latent_dim=128, image_size=32)
    # 4 spectral-norm convs 4x4 (64, 128, 256, 512), Dense 512*2*2 -> 1; spectral norm adds no parameters
    expected = conv(3, 64, 4) + conv(64, 128, 4) + conv(128, 256, 4) + conv(256, 512, 4) + dense(2048, 1)
    assert count_parameters(discriminator) == expected


def test_cgan1_counts_follow_the_deck() -> None:
    generator, discriminator = build_gan("cgan1", latent_dim=128, image_size=32, n_classes=10)
    bn = 2  # gamma and beta per channel
    # G: Dense (128+10)->512*2*2, BN + PReLU on it, ConvT 4x4 512->256->128->64 (BN + PReLU each), ConvT 64->3
    g_expected = dense(138, 2048) + 2048 * (bn + 1)
    for cin, cout in ((512, 256), (256, 128), (128, 64)):
        g_expected += conv(cin, cout, 4) + cout * (bn + 1)
    g_expected += conv(64, 3, 4)
    assert count_parameters(generator) == g_expected
    # D: Conv 4x4 3->64->128->256->512 (BN each), pooled 512 + 10 labels -> Dense 512 -> Dense 1
    d_expected = sum(conv(a, b, 4) + b * bn for a, b in ((3, 64), (64, 128), (128, 256), (256, 512)))
    d_expected += dense(522, 512) + dense(512, 1)
    assert count_parameters(discriminator) == d_expected


def test_sngan_has_the_size_of_the_published_cifar_resnets() -> None:
    generator, discriminator = build_gan("sngan", latent_dim=128, image_size=32, width=256)
    # Mimicry's SNGAN for 32 px: G 4.3M, D 1.0M parameters
    assert 4.2e6 < count_parameters(generator) < 4.4e6
    assert 1.0e6 < count_parameters(discriminator) < 1.1e6
    half, _ = build_gan("sngan", latent_dim=128, image_size=32, width=128)
    assert count_parameters(half) < count_parameters(generator) / 3


def test_self_attention_is_the_identity_at_gamma_zero() -> None:
    torch.manual_seed(0)
    layer = SelfAttention(16)
    x = torch.randn(2, 16, 8, 8)
    assert layer.gamma.item() == 0
    assert torch.equal(layer(x), x)
    with torch.no_grad():
        layer.gamma.fill_(0.5)
    assert not torch.allclose(layer(x), x)


def test_self_attention_attends_over_all_positions() -> None:
    # With gamma 1, changing one far-away pixel changes the output everywhere: a conv would not.
    torch.manual_seed(0)
    layer = SelfAttention(8)
    with torch.no_grad():
        layer.gamma.fill_(1.0)
    x = torch.randn(1, 8, 8, 8)
    y = x.clone()
    y[0, :, 7, 7] += 5
    assert not torch.allclose(layer(x)[0, :, 0, 0], layer(y)[0, :, 0, 0])


def test_featurenet_layers_are_named_like_vgg_and_embed_has_num_features() -> None:
    model = FeatureNet(num_classes=10, width=8, convs=(2, 2, 1, 1))
    names = [name for name, _ in model.features.named_children() if name.startswith("conv")]
    assert names == ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv4_1"]
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    assert model.embed(images).shape == (3, model.num_features)
    assert model(images).shape == (3, 10)


def test_sngan_projection_is_sngan_with_class_norms_and_a_projection_head() -> None:
    width, classes = 64, 10
    g_plain, d_plain = build_gan("sngan", latent_dim=128, image_size=32, width=width)
    generator, discriminator = build_gan("sngan_projection", latent_dim=128, image_size=32, width=width)
    # G: the six batch norms of the up-blocks trade their own scale and shift (2 x C) for a
    # table of them per class (2 x classes x C); D adds one embedding of classes x D's width
    assert count_parameters(generator) == count_parameters(g_plain) + 6 * (2 * classes * width - 2 * width)
    assert count_parameters(discriminator) == count_parameters(d_plain) + classes * width // 2
    # the class term is <embed(y), features(x)>: D's score moves with y by exactly that much
    torch.manual_seed(0)
    images = torch.rand(3, 3, 32, 32) * 2 - 1
    discriminator.eval()
    with torch.no_grad():
        features = discriminator.features(images)
        labels, others = torch.tensor([0, 4, 9]), torch.tensor([1, 5, 2])
        shift = discriminator(images, labels) - discriminator(images, others)
        expected = ((discriminator.embed(labels) - discriminator.embed(others)) * features).sum(1)
    torch.testing.assert_close(shift, expected, rtol=1e-4, atol=1e-4)


def test_the_vision_aided_probe_adds_one_logit_per_block_and_trains_only_its_heads() -> None:
    """scripts/probe_vision_aided.py, whose scores the README quotes: its D gives SNGAN's logit
    and one per chosen featurenet block, holds only SNGAN's D and its heads as parameters, and
    passes G a gradient through the frozen classifier without touching the classifier."""
    probe = script_module("probe_vision_aided")
    torch.manual_seed(0)
    featurenet = FeatureNet(10, width=8)
    _, plain = build_gan("sngan", latent_dim=128, image_size=32, width=16)
    aided = probe.VisionAided(plain, featurenet, [2, 4]).eval()  # eval: SN's power iteration holds
    images = (torch.rand(3, 3, 32, 32) * 2 - 1).requires_grad_(True)
    logits = aided(images)
    assert logits.shape == (3, 3)
    torch.testing.assert_close(logits[:, 0], plain(images).flatten())
    heads = count_parameters(aided.heads)
    assert count_parameters(aided) == count_parameters(plain) + heads
    assert set(aided.heads) == {"2", "4"}
    logits[:, 1:].sum().backward()
    assert images.grad.abs().sum() > 0
    assert all(p.grad is None for p in featurenet.parameters())
    # the heads' columns do not reach SNGAN's D (autograd may hand it zeros)
    assert all(p.grad is None or not p.grad.any() for p in plain.parameters())
    assert all(p.grad is not None for p in aided.heads.parameters())
