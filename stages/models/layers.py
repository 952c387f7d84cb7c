"""Building blocks shared by the model families.

Keras-to-PyTorch notes that apply to every family ported from the deck:
- Keras BatchNormalization(momentum=m) keeps m of the old running average; PyTorch's
  momentum is the weight of the new batch, so Keras 0.8 (and its 0.99 default) become
  0.2 (and 0.01); Keras' epsilon is 1e-3.
- Keras 'same' padding: kernel k stride 1 -> padding k // 2; Conv2DTranspose stride 2
  doubles the size, which in PyTorch is padding (k - 1) // 2 and output_padding k % 2.
  At stride 2 with an odd kernel Keras pads asymmetrically (k - 2 in all: 0 before and
  1 after for k = 3, 1 and 2 for k = 5); `conv_same` pads (k - 1) / 2 on both sides. The
  output has the same size and, but for its last row and column, is Keras' output for
  the input moved one pixel down and right (tests/test_sources.py checks this): a
  one-pixel shift of the sampling grid, kept because symmetric padding is one fused op.
  Transposed convs are conv_same's adjoint and carry the same shift. Even kernels
  (k = 4) pad 1 and 1 in both.
- Initialisers: Keras' default glorot-uniform, except for the layers the deck gives
  RandomNormal(0.02): each family marks those with `random_normal` (see `keras_init`).
- A sigmoid output layer becomes a logit: the losses apply the sigmoid themselves.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm


class Reshape(nn.Module):
    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: Tensor) -> Tensor:
        return x.view(x.shape[0], *self.shape)


def keras_bn(channels: int, momentum: float = 0.99, dims: int = 2) -> nn.Module:
    """BatchNormalization with Keras' `momentum` (see the module docstring)."""
    norm = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
    return norm(channels, momentum=1 - momentum, eps=1e-3)


def conv_same(cin: int, cout: int, k: int, stride: int = 1, bias: bool = True) -> nn.Conv2d:
    """Conv2D(padding='same'): stride 1 keeps the size, stride 2 halves it."""
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2 if k % 2 else k // 2 - 1, bias=bias)


def conv_transpose_same(cin: int, cout: int, k: int, bias: bool = True) -> nn.ConvTranspose2d:
    """Conv2DTranspose(strides=2, padding='same'): doubles the spatial size."""
    return nn.ConvTranspose2d(cin, cout, k, stride=2, padding=(k - 1) // 2, output_padding=k % 2, bias=bias)


def prelu(channels: int) -> nn.PReLU:
    """Keras PReLU starts at alpha 0. Keras keeps one alpha per element; here one per
    channel (the usual PyTorch choice: a per-pixel slope ties the model to one size)."""
    return nn.PReLU(channels, init=0.0)


def random_normal(module: nn.Module, std: float = 0.02) -> nn.Module:
    """Mark a layer (or every conv and dense layer inside a block) to start from
    RandomNormal(stddev=std), where the deck names that `kernel_initializer`; returns it."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            layer.normal_init_std = std
    return module


def keras_init(module: nn.Module) -> None:
    """Keras' initialisation, layer by layer: glorot-uniform kernels unless the layer is
    marked by `random_normal`, then N(0, std); zero biases."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            std = getattr(layer, "normal_init_std", None)
            if std is None:
                nn.init.xavier_uniform_(_weight(layer))
            else:
                nn.init.normal_(_weight(layer), 0.0, std)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def radford_init(module: nn.Module, std: float = 0.02) -> None:
    """Radford et al.'s DCGAN initialisation as pytorch/examples writes it (weights_init):
    conv and dense weights N(0, std), batch-norm scales N(1, std), zero biases."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(_weight(layer), 0.0, std)
        elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(layer.weight, 1.0, std)
        else:
            continue
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)


def _weight(layer: nn.Module) -> Tensor:
    # a spectral-normalised layer keeps the raw weight as parametrizations.weight.original
    if hasattr(layer, "parametrizations"):
        return layer.parametrizations.weight.original
    return layer.weight


def sn(layer: nn.Module, enabled: bool = True) -> nn.Module:
    """Spectral normalisation (Miyato et al.) of a layer's weight, one power iteration per step."""
    return spectral_norm(layer) if enabled else layer


# Nearest 2x upsampling then a 3-tap 'same' conv, per output phase: even rows see taps
# (w0 | w1 + w2) of input rows (i - 1, i), odd rows (w0 + w1 | w2) of rows (i, i + 1). As the
# 4 taps of a stride-2 transposed conv, tap k gets FOLD[k] @ (w0, w1, w2).
_FOLD = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


class UpsampleConv2d(nn.Conv2d):
    """Nearest 2x upsampling followed by this conv, as one op.

    A 3x3 'same' conv becomes a stride-2 transposed conv whose 4x4 kernel is folded from
    the 3x3 one: the same function with 16 instead of 36 multiply-adds per input pixel and
    no upsampled tensor in memory (2-5x faster on CPU). A 1x1 conv runs before the
    upsampling instead of after it. The parameters and state_dict are the Conv2d's, so
    weights load into either form; `fuse_upsample_convs` swaps it in."""

    fold: Tensor  # _FOLD as a non-persistent buffer: it moves with the module, no copy per call

    def forward(self, x: Tensor) -> Tensor:
        if self.kernel_size == (1, 1):
            return F.interpolate(super().forward(x), scale_factor=2, mode="nearest")
        # conv2d weight (out, in, 3, 3) -> conv_transpose2d weight (in, out, 4, 4)
        kernel = torch.einsum("ka,lb,oiab->iokl", self.fold, self.fold, self.weight)
        if x.is_contiguous(memory_format=torch.channels_last):
            kernel = kernel.contiguous(memory_format=torch.channels_last)
        return F.conv_transpose2d(x, kernel, self.bias, stride=2, padding=1)


def _fusable(upsample: nn.Module, conv: nn.Module) -> bool:
    return (
        type(upsample) is nn.Upsample
        and upsample.mode == "nearest"
        and upsample.size is None
        and upsample.scale_factor in (2, 2.0, (2, 2), (2.0, 2.0))
        and type(conv) is nn.Conv2d  # not spectral-normalised (a parametrised subclass)
        and conv.stride == (1, 1)
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and conv.padding_mode == "zeros"
        and (conv.kernel_size, conv.padding) in (((3, 3), (1, 1)), ((1, 1), (0, 0)))
    )


def fuse_upsample_convs(module: nn.Module) -> int:
    """Replace every (nn.Upsample(2, nearest), 3x3 or 1x1 'same' Conv2d) pair of a
    Sequential by (Identity, UpsampleConv2d) in place; returns how many. Module indices and
    state_dict keys stay as they were."""
    fused = 0
    for sequential in [m for m in module.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(sequential) - 1):
            if _fusable(sequential[i], sequential[i + 1]):
                sequential[i] = nn.Identity()
                conv = sequential[i + 1]
                conv.__class__ = UpsampleConv2d
                if conv.kernel_size == (3, 3):
                    conv.register_buffer("fold", _FOLD.to(conv.weight), persistent=False)
                fused += 1
    return fused


class SelfAttention(nn.Module):
    """SAGAN self-attention (Zhang et al. 2019): 1x1 query/key (C/8) and value (C)
    projections, softmax over all positions, and out = x + gamma * attention, with the
    learned gamma starting at 0 so a new layer is the identity until training moves it."""

    def __init__(self, channels: int, spectral: bool = False) -> None:
        super().__init__()
        inner = max(1, channels // 8)
        self.query = sn(nn.Conv2d(channels, inner, 1, bias=False), spectral)
        self.key = sn(nn.Conv2d(channels, inner, 1, bias=False), spectral)
        self.value = sn(nn.Conv2d(channels, channels, 1, bias=False), spectral)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)  # (N, HW, C/8)
        k = self.key(x).flatten(2).transpose(1, 2)
        v = self.value(x).flatten(2).transpose(1, 2)  # (N, HW, C)
        # the fused kernel (flash / memory-efficient) where the device has one
        attended = F.scaled_dot_product_attention(q, k, v, scale=1.0)
        return x + self.gamma * attended.transpose(1, 2).reshape(n, c, h, w)


class Generator(nn.Module):
    """Maps z (N, latent_dim) to images (N, C, H, W) in [-1, 1]. A conditional generator
    (n_classes > 0) gets the one-hot label concatenated to z, as the deck's CGANs."""

    def __init__(self, latent_dim: int, body: nn.Module, n_classes: int = 0) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.n_classes = n_classes
        self.body = body

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.n_classes:
            z = torch.cat([z, F.one_hot(labels, self.n_classes).to(z.dtype)], dim=1)
        return self.body(z)


class Discriminator(nn.Module):
    """Maps images (N, C, H, W) in [-1, 1] to real/fake logits (N,): `features` gives a
    vector per image, `head` scores it. A conditional one (n_classes > 0) concatenates
    the one-hot label to the features before the head, as the deck's CGANs."""

    def __init__(self, features: nn.Module, head: nn.Module, n_classes: int = 0) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.features = features
        self.head = head

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = self.features(x)
        if self.n_classes:
            h = torch.cat([h, F.one_hot(labels, self.n_classes).to(h.dtype)], dim=1)
        return self.head(h).squeeze(1)


Pair = tuple[Generator, Discriminator]  # what every family's build function returns


def initialised(
    generator: Generator, discriminator: Discriminator, init: Callable[[nn.Module], None] = keras_init
) -> Pair:
    """The pair with `init` applied to G, then D (a fixed order: it fixes the random weights)."""
    init(generator)
    init(discriminator)
    return generator, discriminator


def start_size(image_size: int, doublings: int, arch: str) -> int:
    """Side of the first feature map of a generator that doubles it `doublings` times."""
    if image_size % 2**doublings:
        raise ValueError(f"{arch} needs an image size divisible by {2**doublings}, got {image_size}")
    return image_size // 2**doublings
