"""Does DCGAN 1 collapse because of how its training step draws G's noise? A minimal loop
outside the pipeline (its networks and Keras initialisation from stages.models, Adam 2e-4,
beta1 0.5, non-saturating BCE, the CIFAR-10 training set that `dvc repro` writes), in one
of four ways:

    reuse   one D update on the mean of the real and fake BCE; G's update scores those
            same fakes again (the pipeline's loop and pytorch/examples' DCGAN)
    fresh   the same D update; G's update on new noise, batch B
    joint   the same D update; G's update on new noise, batch 2B
    keras   Keras train_on_batch: a D update on B real images, another on B fakes, then
            G's update on 2B new noise (the loops the deck's Keras models come from)

D stays in train mode (dropout on) in G's update, as in Keras. Prints D's and G's mean
loss over the last 100 steps and the samples' spread ratio (stages.gan.health) every 250
steps; stops on nothing. Writes nothing.

    python scripts/probe_g_step_noise.py VARIANT STEPS BATCH [SEED] [ARCH]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stages.core import paths  # noqa: E402
from stages.data.dataset import load_prepared  # noqa: E402
from stages.data.images import to_signed_unit  # noqa: E402
from stages.gan import health  # noqa: E402
from stages.gan.objectives import NonSaturatingBCE  # noqa: E402
from stages.models.registry import build_gan  # noqa: E402

CPU = torch.device("cpu")
LATENT = 128


def main(variant: str, steps: int, batch: int, seed: int, arch: str) -> None:
    torch.set_num_threads(2)
    torch.manual_seed(seed)  # the networks' initial weights
    images = load_prepared(paths.trainset_dir("cifar10"), "train").images
    generator, discriminator = build_gan(arch, LATENT, 32)
    opt_g = torch.optim.Adam(generator.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), 2e-4, betas=(0.5, 0.999))
    rng = torch.Generator().manual_seed(seed + 1)  # batches and noise
    bce = NonSaturatingBCE()

    def real_batch(n: int) -> torch.Tensor:
        return to_signed_unit(images[torch.randint(len(images), (n,), generator=rng)])

    def noise(n: int) -> torch.Tensor:
        return torch.randn(n, LATENT, generator=rng)

    def d_update(loss: torch.Tensor) -> None:
        opt_d.zero_grad()
        loss.backward()
        opt_d.step()

    def g_update(fake: torch.Tensor) -> torch.Tensor:
        discriminator.requires_grad_(False)
        loss = bce.g_from_logits(discriminator(fake))
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
        discriminator.requires_grad_(True)
        return loss

    losses, tick = [], time.time()
    for step in range(1, steps + 1):
        generator.train()
        discriminator.train()
        real = real_batch(batch)
        with torch.set_grad_enabled(variant == "reuse"):  # only reuse backpropagates through it
            fake = generator(noise(batch))
        real_logits = discriminator(real)
        if variant == "keras":
            real_loss = F.softplus(-real_logits).mean()
            d_update(real_loss)
            fake_loss = F.softplus(discriminator(fake.detach())).mean()
            d_update(fake_loss)
            d_loss = 0.5 * (real_loss + fake_loss)
        else:
            d_loss = bce.d_from_logits(real_logits, discriminator(fake.detach()))
            d_update(d_loss)
        if variant == "reuse":
            g_loss = g_update(fake)
        else:
            g_loss = g_update(generator(noise(batch if variant == "fresh" else 2 * batch)))
        losses.append((d_loss.item(), g_loss.item()))
        if step % 250 == 0:
            across, within = health.sample_spread(generator, LATENT, CPU)
            last = torch.tensor(losses[-100:]).mean(0)
            print(
                f"{variant} seed {seed} step {step}: d {last[0]:.3f} g {last[1]:.2f} spread ratio "
                f"{health.spread_ratio(across, within):.3f} (across {across:.4f}, within {within:.4f}) "
                f"{time.time() - tick:.0f} s",
                flush=True,
            )


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[1] not in ("reuse", "fresh", "joint", "keras"):
        sys.exit(__doc__)
    variant, steps, batch, *rest = sys.argv[1:]
    main(variant, int(steps), int(batch), int(rest[0]) if rest else 0, rest[1] if len(rest) > 1 else "dcgan1")
