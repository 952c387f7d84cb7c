"""GAN objectives: the one pluggable part of the training loop.

An objective sees the discriminator and the images, so penalties that need both (a
gradient penalty, say) fit the same interface as plain losses on logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stages.core.schema import GanLoss, ModelConfig


class Objective:
    """Loss for D on (real, fake) and for G on fake. Images (N, C, H, W) in [-1, 1].
    `mixed`: real images with generated pixels in them (CutMix, real_fake), which D is
    trained to call fake: they join the fake batch."""

    def discriminator(
        self, disc: nn.Module, real: Tensor, fake: Tensor, labels: Tensor, mixed: Tensor | None = None
    ) -> Tensor:
        real_logits, fake_logits = disc(real, labels), disc(fake, labels)
        if mixed is not None:
            fake_logits = torch.cat([fake_logits, disc(mixed, labels)])
        return self.d_from_logits(real_logits, fake_logits)

    def generator(self, disc: nn.Module, fake: Tensor, labels: Tensor) -> Tensor:
        return self.g_from_logits(disc(fake, labels))

    def d_from_logits(self, real: Tensor, fake: Tensor) -> Tensor:
        raise NotImplementedError

    def g_from_logits(self, fake: Tensor) -> Tensor:
        raise NotImplementedError


class NonSaturatingBCE(Objective):
    """Goodfellow et al.'s non-saturating loss. D's loss is the mean of its real and fake
    BCE, as Keras' train_on_batch reports it, so d_loss reads like the deck's tables."""

    def d_from_logits(self, real: Tensor, fake: Tensor) -> Tensor:
        return 0.5 * (F.softplus(-real).mean() + F.softplus(fake).mean())

    def g_from_logits(self, fake: Tensor) -> Tensor:
        return F.softplus(-fake).mean()


class Hinge(Objective):
    def d_from_logits(self, real: Tensor, fake: Tensor) -> Tensor:
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()

    def g_from_logits(self, fake: Tensor) -> Tensor:
        return -fake.mean()


class LeastSquares(Objective):
    """LSGAN (Mao et al.), targets 1 for real and 0 for fake."""

    def d_from_logits(self, real: Tensor, fake: Tensor) -> Tensor:
        return 0.5 * ((real - 1).square().mean() + fake.square().mean())

    def g_from_logits(self, fake: Tensor) -> Tensor:
        return 0.5 * (fake - 1).square().mean()


class Wasserstein(Objective):
    """WGAN (Arjovsky et al.): the critic maximises E[D(real)] - E[D(fake)], so its loss
    is the negative estimate of the Wasserstein-1 distance. It needs a Lipschitz critic:
    weight clipping (model.clip, applied by the loop) or a gradient penalty (below)."""

    def d_from_logits(self, real: Tensor, fake: Tensor) -> Tensor:
        return fake.mean() - real.mean()

    def g_from_logits(self, fake: Tensor) -> Tensor:
        return -fake.mean()


class WassersteinGP(Wasserstein):
    """WGAN-GP (Gulrajani et al.): the Wasserstein loss plus weight * E[(|grad D(x)| - 1)^2]
    at random points x on the lines between real and fake images."""

    def __init__(self, weight: float = 10.0) -> None:
        self.weight = weight

    def discriminator(
        self, disc: nn.Module, real: Tensor, fake: Tensor, labels: Tensor, mixed: Tensor | None = None
    ) -> Tensor:
        loss = super().discriminator(disc, real, fake, labels, mixed)
        return loss + self.weight * gradient_penalty(disc, real, fake, labels)


def gradient_penalty(disc: nn.Module, real: Tensor, fake: Tensor, labels: Tensor) -> Tensor:
    """E[(||dD/dx||_2 - 1)^2] over x = eps * real + (1 - eps) * fake, eps ~ U(0, 1) per image.
    In float32 even under autocast: a bf16 gradient norm is too coarse for a penalty."""
    eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    mixed = (eps * real.float() + (1 - eps) * fake.float()).requires_grad_(True)
    with torch.autocast(real.device.type, enabled=False):
        scores = disc(mixed, labels)
        (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1).square().mean()


OBJECTIVES: dict[GanLoss, type[Objective]] = {
    GanLoss.bce: NonSaturatingBCE,
    GanLoss.hinge: Hinge,
    GanLoss.lsgan: LeastSquares,
    GanLoss.wasserstein: Wasserstein,
    GanLoss.wasserstein_gp: WassersteinGP,
}


def make_objective(model: ModelConfig) -> Objective:
    if model.loss == GanLoss.wasserstein_gp:
        return WassersteinGP(model.gp_weight)
    return OBJECTIVES[model.loss]()
