"""Faithful to the sources: each place where an audit against the GAN-101 slides and the
papers found the code different, checked so that the old behaviour would fail."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stages.core.schema import CutMixMode, GanLoss, GramNorm
from stages.cyclegan.loop import epoch_indices, linear_decay_factor
from stages.gan.augment import augment_real, diff_augment, paste_fake
from stages.gan.objectives import OBJECTIVES
from stages.metrics.fid import memorization_distance
from stages.models.layers import conv_same, conv_transpose_same
from stages.models.registry import build_gan, count_parameters
from stages.style.transfer import average_pooling, gram_matrix, style_layer_loss


def conv(cin: int, cout: int, k: int) -> int:
    return cin * cout * k * k + cout


def dense(cin: int, cout: int) -> int:
    return cin * cout + cout


BN = 2  # gamma and beta per normalised feature


# ---------------------------------------------------------------- architectures


def test_dcgan2_generator_normalises_the_dense_map_per_channel() -> None:
    generator, _ = build_gan("dcgan2", latent_dim=128, image_size=32)
    # Dense 128 -> 8*8*128, Reshape, BN over 128 channels, ConvT 128->128 5x5 + BN 128, ConvT 128->3 5x5
    expected = dense(128, 8192) + 128 * BN + conv(128, 128, 5) + 128 * BN + conv(128, 3, 5)
    assert count_parameters(generator) == expected == 1_476_611
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._NormBase)]
    assert all(isinstance(m, nn.BatchNorm2d) for m in norms)
    assert norms[0].num_features == 128


def test_dcgan5_generator_normalises_before_tanh_with_no_bias_anywhere() -> None:
    generator, _ = build_gan("dcgan5", latent_dim=128, image_size=32)
    # Dense 128 -> 2*2*512 (no bias), then 4 x [Upsample, Conv 3x3 no bias, BN]: 128, 64, 64, 3
    convs = (512 * 128 + 128 * 64 + 64 * 64 + 64 * 3) * 9
    assert count_parameters(generator) == 128 * 2048 + convs + (128 + 64 + 64 + 3) * BN == 964_806
    body = list(generator.body)
    assert isinstance(body[-1], nn.Tanh)
    assert isinstance(body[-2], nn.BatchNorm2d) and body[-2].num_features == 3
    assert all(m.bias is None for m in body if isinstance(m, (nn.Conv2d, nn.Linear)))


@pytest.mark.parametrize("family", ["dcgan2", "dcgan4", "wgan2", "sadcgan1", "sadcgan2", "cgan3"])
def test_batch_norm_after_the_dense_layer_is_over_channels(family: str) -> None:
    generator, _ = build_gan(family, latent_dim=128, image_size=32, n_classes=10)
    body = list(generator.body)
    reshape = next(i for i, m in enumerate(body) if type(m).__name__ == "Reshape")
    first_norm = next(i for i, m in enumerate(body) if isinstance(m, nn.modules.batchnorm._NormBase))
    assert first_norm == reshape + 1
    assert isinstance(body[first_norm], nn.BatchNorm2d)
    # statistics over batch x H x W: a constant shift of one channel is removed whole
    assert body[first_norm].num_features == body[reshape].shape[0]


@pytest.mark.parametrize("family", ["cgan1", "cgan2"])
def test_cgan1_and_2_keep_the_slides_batch_norm_before_reshape(family: str) -> None:
    generator, _ = build_gan(family, latent_dim=128, image_size=32, n_classes=10)
    body = list(generator.body)
    reshape = next(i for i, m in enumerate(body) if type(m).__name__ == "Reshape")
    assert any(isinstance(m, nn.BatchNorm1d) and m.num_features == 2048 for m in body[:reshape])


def test_cgan_test_discriminator_has_the_slides_three_convs() -> None:
    _, discriminator = build_gan("cgan_test", latent_dim=128, image_size=32, n_classes=10)
    # Conv 64 3x3 s1, Conv 128 3x3 s2, Conv 128 3x3 s2, Flatten 8*8*128 + 10 labels -> Dense 1
    expected = conv(3, 64, 3) + conv(64, 128, 3) + conv(128, 128, 3) + dense(8192 + 10, 1)
    assert count_parameters(discriminator) == expected == 231_435
    convs = [m for m in discriminator.modules() if isinstance(m, nn.Conv2d)]
    assert [c.stride[0] for c in convs] == [1, 2, 2]


def std_of(layer: nn.Module) -> float:
    weight = layer.parametrizations.weight.original if hasattr(layer, "parametrizations") else layer.weight
    return float(weight.detach().std())


def glorot_std(layer: nn.Module) -> float:
    weight = layer.parametrizations.weight.original if hasattr(layer, "parametrizations") else layer.weight
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(weight)
    return math.sqrt(2.0 / (fan_in + fan_out))  # the std of glorot-uniform


def weight_layers(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]


@pytest.mark.parametrize(
    ("family", "g_normal", "d_normal"),
    [
        # (family, indices of G's / D's weight layers the slides give RandomNormal(0.02))
        ("dcgan2", {0}, {0}),
        ("dcgan4", {0}, "all"),
        ("wgan2", {0}, "all"),
        ("sadcgan1", {0}, {0}),
        ("sadcgan2", {0}, set()),
        ("cgan1", {0, 1, 2, 3}, {0, 1, 2, 3}),
        ("cgan3", {0}, {0, 1, 2, 3}),
    ],
)
def test_initialisers_follow_the_slides_layer_by_layer(
    family: str, g_normal: set, d_normal: set | str
) -> None:
    torch.manual_seed(0)
    generator, discriminator = build_gan(family, latent_dim=128, image_size=32, n_classes=10)
    for network, normal in ((generator, g_normal), (discriminator, d_normal)):
        layers = weight_layers(network)
        marked = set(range(len(layers))) if normal == "all" else normal
        for i, layer in enumerate(layers):
            if layer.weight.numel() < 2000:  # too few weights to tell the two apart
                continue
            expected = 0.02 if i in marked else glorot_std(layer)
            assert std_of(layer) == pytest.approx(expected, rel=0.1), (family, i)


def test_radford_dcgan_draws_batch_norm_scales_around_one() -> None:
    torch.manual_seed(0)
    generator, discriminator = build_gan("dcgan_radford64", latent_dim=100, image_size=64)
    scales = torch.cat([m.weight.detach() for m in generator.modules() if isinstance(m, nn.BatchNorm2d)])
    assert scales.mean().item() == pytest.approx(1.0, abs=0.01)
    assert scales.std().item() == pytest.approx(0.02, rel=0.1)  # not all exactly 1


@pytest.mark.parametrize("k", [3, 5])
def test_stride_two_same_conv_is_keras_up_to_a_one_pixel_shift(k: int) -> None:
    torch.manual_seed(0)
    ours = conv_same(3, 4, k, stride=2)
    x = torch.randn(2, 3, 16, 16)
    # Keras 'same' at stride 2 pads k - 2 in all: (k - 2) // 2 before, the rest after
    before, after = (k - 2) // 2, (k - 2) - (k - 2) // 2
    keras = lambda t: F.conv2d(F.pad(t, (before, after, before, after)), ours.weight, ours.bias, stride=2)  # noqa: E731
    assert keras(x).shape == ours(x).shape
    assert not torch.allclose(keras(x), ours(x), atol=1e-4)
    shifted = F.pad(x, (1, 0, 1, 0))[..., :-1, :-1]  # one pixel down and right, zeros in
    # equal but for the last row and column, where the shift pushed a pixel out of the image
    assert torch.allclose(keras(shifted)[..., :-1, :-1], ours(x)[..., :-1, :-1], atol=1e-5)
    # the transposed conv is the adjoint of conv_same: it carries the same shift
    up = conv_transpose_same(4, 3, k, bias=False)
    up.weight.data = ours.weight.data.clone()
    y = torch.randn(2, 4, 8, 8)
    assert up(y).shape == (2, 3, 16, 16)
    no_bias = F.conv2d(x, ours.weight, None, stride=2, padding=k // 2)
    assert torch.allclose((no_bias * y).sum(), (up(y) * x).sum(), rtol=1e-4)


# ---------------------------------------------------------------- augmentation


def test_diffaugment_brightness_is_the_reference_range_on_signed_images() -> None:
    images = torch.zeros(4000, 3, 2, 2)  # grey: saturation and contrast leave a flat image flat
    out = diff_augment(images, torch.Generator().manual_seed(0), policy="color")
    offsets = out[:, 0, 0, 0]
    assert torch.allclose(out, offsets.view(-1, 1, 1, 1).expand_as(out), atol=1e-6)
    assert offsets.min() >= -0.5 and offsets.max() <= 0.5  # was +-1.0
    assert offsets.min() < -0.49 and offsets.max() > 0.49


def test_cutmix_real_fake_pastes_fakes_into_reals_and_d_calls_them_fake() -> None:
    real = torch.ones(16, 3, 8, 8)
    labels = torch.arange(16) % 10
    rng = torch.Generator().manual_seed(0)
    out, out_labels, box = augment_real(real, labels, False, 1.0, CutMixMode.real_fake, rng)
    assert torch.equal(out, real) and torch.equal(out_labels, labels) and box is not None
    fake = -torch.ones_like(real)
    mixed = paste_fake(out, fake, box)
    real_share = (mixed == 1).float().mean(dim=(1, 2, 3))
    assert ((real_share > 0) & (real_share < 1)).any()  # real and fake pixels in one image
    assert torch.equal(mixed == -1, box.expand_as(mixed))

    class Mean(nn.Module):  # D's logit: the mean pixel
        def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            return images.mean(dim=(1, 2, 3))

    objective = OBJECTIVES[GanLoss.bce]()
    plain = objective.discriminator(Mean(), real, fake, labels)
    with_mixed = objective.discriminator(Mean(), real, fake, labels, mixed)
    # the mixed images join the fake half: their logits are > -1, so calling them fake costs more
    fake_half = F.softplus(torch.cat([Mean()(fake, labels), Mean()(mixed, labels)])).mean()
    assert with_mixed == pytest.approx(0.5 * (F.softplus(-Mean()(real, labels)).mean() + fake_half).item())
    assert with_mixed > plain


def test_cutmix_real_real_mixes_reals_and_returns_no_box() -> None:
    real = torch.arange(8.0).view(8, 1, 1, 1).expand(8, 3, 8, 8).contiguous()
    labels = torch.arange(8)
    rng = torch.Generator().manual_seed(1)
    out, _, box = augment_real(real, labels, False, 1.0, CutMixMode.real_real, rng)
    assert box is None and not torch.equal(out, real)


# ---------------------------------------------------------------- style transfer


def test_style_loss_is_gatys_e_l_on_a_hand_example() -> None:
    # N = 2 feature maps of M = 2 positions
    features = torch.tensor([[[[1.0, 2.0]], [[0.0, 1.0]]]])  # (1, 2, 1, 2)
    target_features = torch.tensor([[[[1.0, 0.0]], [[1.0, 1.0]]]])
    # G = F F^T = [[5, 2], [2, 1]], A = [[1, 1], [1, 2]]; sum (G - A)^2 = 16 + 1 + 1 + 1 = 19
    e_l = 19 / (4 * 2**2 * 2**2)  # Gatys: / (4 N^2 M^2)
    gatys = style_layer_loss(gram_matrix(features), gram_matrix(target_features))
    assert gatys.item() == pytest.approx(e_l)
    old = style_layer_loss(
        gram_matrix(features, GramNorm.per_entry_mean),
        gram_matrix(target_features, GramNorm.per_entry_mean),
        GramNorm.per_entry_mean,
    )
    assert old.item() == pytest.approx(e_l * 4 / 2**2)  # the old scale: 4 / N^2 times E_l


def test_equal_layer_weights_give_equal_contributions_whatever_the_width() -> None:
    torch.manual_seed(0)
    narrow = torch.rand(1, 8, 4, 4)
    # the same statistics on a layer 8x as wide and 4x as large: Gatys's E_l is the same
    wide = narrow.repeat(1, 8, 2, 2)
    target_narrow, target_wide = narrow * 0.5, wide * 0.5
    e_narrow = style_layer_loss(gram_matrix(narrow), gram_matrix(target_narrow))
    e_wide = style_layer_loss(gram_matrix(wide), gram_matrix(target_wide))
    assert e_wide.item() == pytest.approx(e_narrow.item(), rel=1e-5)


def test_average_pooling_replaces_every_max_pool() -> None:
    layers = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Conv2d(4, 4, 3), nn.MaxPool2d(2)
    )
    assert average_pooling(layers) == 2
    assert [type(m).__name__ for m in layers] == ["Conv2d", "ReLU", "AvgPool2d", "Conv2d", "AvgPool2d"]
    x = torch.tensor([[[[0.0, 2.0], [4.0, 6.0]]]])
    assert layers[2](x).item() == 3.0


# ---------------------------------------------------------------- CycleGAN and MiFID


def test_cyclegan_decay_matches_the_reference_lambda_rule() -> None:
    steps, start = 10, 5  # 5 constant, n = 5 decaying
    factors = [linear_decay_factor(s, steps, 0.5) for s in range(steps)]
    assert factors[:start] == [1.0] * start
    assert factors[start] == pytest.approx(1 - 1 / 6)  # the first decay step already decays
    assert factors[-1] == pytest.approx(1 / 6)  # 1 / (n + 1), not 2 / (n + 1)
    # the reference: lr of epoch e (1-based) = 1 - max(0, e - n_epochs) / (n_epochs_decay + 1)
    assert factors == pytest.approx([1 - max(0, e - 5) / 6 for e in range(1, 11)])


def test_cyclegan_walks_domain_a_an_epoch_at_a_time() -> None:
    n = 7
    walk = epoch_indices(n, 0, 3 * n, seed=0)
    for epoch in range(3):
        assert sorted(walk[epoch * n : (epoch + 1) * n].tolist()) == list(range(n))  # each once
    assert not torch.equal(walk[:n], walk[n : 2 * n])  # reshuffled per epoch
    # a batch is a function of its position alone: a resume draws the same one
    assert torch.equal(epoch_indices(n, 5, 4, seed=0), walk[5:9])


def test_mifid_distance_drops_all_zero_feature_rows_as_kaggle_does() -> None:
    real = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    fake = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    # Kaggle: the zero rows are dropped, leaving one fake image equal to a real one
    assert memorization_distance(real, fake) == pytest.approx(0.0)
