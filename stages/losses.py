"""GAN objectives: the one pluggable part of the training loop.

An objective sees the discriminator and the images, so penalties that need both (a
gradient penalty, say) fit the same interface as plain losses on logits.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from stages.config import GanLoss


class Objective:
    """Loss for D on (real, fake) and for G on fake. Images (N, C, H, W) in [-1, 1]."""

    def discriminator(self, disc: nn.Module, real: Tensor, fake: Tensor, labels: Tensor) -> Tensor:
        return self.d_from_logits(disc(real, labels), disc(fake, labels))

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


OBJECTIVES: dict[GanLoss, type[Objective]] = {
    GanLoss.bce: NonSaturatingBCE,
    GanLoss.hinge: Hinge,
    GanLoss.lsgan: LeastSquares,
}


def make_objective(loss: GanLoss) -> Objective:
    return OBJECTIVES[loss]()
