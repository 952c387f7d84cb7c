"""Training health: the signs that a GAN run has failed and will not recover.

The loop asks at every log flush (losses, weights), and before every checkpoint and at the
last step (samples), so no checkpoint is written from a failed or suspect state: the last one
on disk is the last good one.
"""

from __future__ import annotations

import torch
from torch import nn

from stages.core.schema import GanLoss

# losses bounded below by 0, where 0 means D separates real from fake perfectly
ZERO_FLOOR_LOSSES = (GanLoss.bce, GanLoss.hinge, GanLoss.lsgan)
ZERO_LOSS = 1e-4  # a D loss under this counts as 0 (BCE: logits beyond about +-9.9)
# Samples are "all the same image" when they differ from each other (per-pixel std over the
# batch) far less than each varies within itself (std over its pixels): relative, because an
# untrained generator in eval mode may have small outputs that still differ. The floor keeps
# a collapse to one flat colour (both spreads near 0) a collapse. Measured on CIFAR-10 at
# 32 px: every untrained family 0.41-0.93, trained ones that learned about 1.0, DCGAN 1 one
# grey image 0.03. A partial collapse (DCGAN 5 as first ported: one face, 0.17) is not
# caught: healthy runs pass through such values early (DCGAN 3, CPU profile: 0.19 at step
# 50, 0.59 at step 100), so the leaderboard flags it instead (FID no better than untrained).
SAME_SAMPLES_RATIO = 0.05
SPREAD_FLOOR = 1e-3
HEALTH_SAMPLES = 16
HEALTH_NOISE_SEED = 271828  # a stream of its own: the check draws nothing from training's


class TrainingFailed(Exception):
    """A run that cannot recover: `step` (1-based, the first bad one) and what happened."""

    def __init__(self, step: int, what: str) -> None:
        super().__init__(f"step {step}: {what}")
        self.step = step
        self.what = what


def check_losses(history: torch.Tensor, end: int, loss: GanLoss, collapse_steps: int) -> None:
    """history[:end] holds (step, d_loss, g_loss, ...) rows: raise at the first non-finite
    loss, or when D's loss has been 0 for the last `collapse_steps` steps."""
    losses = history[:end, 1:3]
    bad = ~torch.isfinite(losses)
    if bad.any():
        row, column = (int(i) for i in bad.nonzero()[0])
        name = ("D", "G")[column]
        raise TrainingFailed(row + 1, f"{name} loss is {float(losses[row, column])}")
    if collapse_steps and loss in ZERO_FLOOR_LOSSES and end >= collapse_steps:
        recent = history[end - collapse_steps : end, 1]
        if bool((recent.abs() < ZERO_LOSS).all()):
            what = f"D loss at 0 for {collapse_steps} steps in a row (D wins, G learns nothing)"
            raise TrainingFailed(end, what)


def check_weights(step: int, **networks: nn.Module) -> None:
    """Raise when a parameter or buffer of a named network is NaN or infinite (one host sync)."""
    for name, network in networks.items():
        tensors = [*network.parameters(), *network.buffers()]
        tensors = [t for t in tensors if t.is_floating_point()]
        if tensors and not bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all()):
            raise TrainingFailed(step, f"{name} weights are not finite")


@torch.no_grad()
def sample_spread(generator: nn.Module, latent_dim: int, device: torch.device) -> tuple[float, float]:
    """(across, within): the per-pixel std over samples of the check's fixed noise (and
    labels), and each sample's std over its own pixels, both averaged. Eval mode: running
    statistics are not touched."""
    noise = torch.Generator().manual_seed(HEALTH_NOISE_SEED)
    z = torch.randn(HEALTH_SAMPLES, latent_dim, generator=noise).to(device)
    n_classes = getattr(generator, "n_classes", 0) or 0
    labels = torch.arange(HEALTH_SAMPLES, device=device) % n_classes if n_classes else None
    was_training = generator.training
    generator.eval()
    images = generator(z, labels).float()
    generator.train(was_training)
    return float(images.std(dim=0).mean()), float(images.flatten(1).std(dim=1).mean())


def spread_ratio(across: float, within: float) -> float:
    """What the check compares with SAME_SAMPLES_RATIO."""
    return across / (within + SPREAD_FLOOR)


def check_samples(step: int, generator: nn.Module, latent_dim: int, device: torch.device) -> None:
    """Raise when samples of different noise (and labels) are nearly the same image: the
    generator has collapsed to one output."""
    across, within = sample_spread(generator, latent_dim, device)
    if spread_ratio(across, within) < SAME_SAMPLES_RATIO:
        what = f"samples nearly identical (spread across samples {across:.4f}, within one {within:.4f})"
        raise TrainingFailed(step, what)


class CollapseWatch:
    """Identical samples fail a run at two checks in a row, or at the last step: one check
    alone may catch a phase the run leaves. A check that fails once is a strike: the loop
    writes no checkpoint then, so the file on disk stays the last good one."""

    def __init__(self) -> None:
        self.strikes = 0

    def healthy(
        self, step: int, generator: nn.Module, latent_dim: int, device: torch.device, last: bool
    ) -> bool:
        """True when the samples differ; False at a first strike; raises TrainingFailed at
        the second in a row or at the last step."""
        try:
            check_samples(step, generator, latent_dim, device)
        except TrainingFailed as failed:
            self.strikes += 1
            if last or self.strikes > 1:
                when = "at the last step" if self.strikes == 1 else f"at {self.strikes} checks in a row"
                raise TrainingFailed(step, f"{failed.what} {when}") from None
            return False
        self.strikes = 0
        return True
