"""Does a family that the health check stops leave its collapse when it is let run? One
training run in memory with the table profile (batch 32, seed 0), the identical-samples and
zero-D-loss checks off, a 1,000-sample FID every 250 steps; prints D and G losses per 100
steps, the FID curve and the samples' spread ratio at the end. Needs the training set and
reference statistics that `dvc repro` writes; writes nothing.

    python scripts/probe_unchecked_training.py 1500 dcgan1 [override ...] [--d-alone 300]

`--d-alone N` then freezes G and trains its D alone for N more steps on real images and
G's samples, printing D's loss and mean p(real) every 100: a D that separates them
quickly was not blind to the collapse, G moved faster than it followed. It also prints
each self-attention layer's gamma and the spread ratio with G's attention set to 0.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stages.core import paths  # noqa: E402
from stages.core.schema import ModelConfig, TrainConfig, compose, validate  # noqa: E402
from stages.data.dataset import ImageSet, load_prepared  # noqa: E402
from stages.data.images import to_signed_unit  # noqa: E402
from stages.gan import health, loop  # noqa: E402
from stages.gan.objectives import make_objective  # noqa: E402
from stages.models.layers import SelfAttention  # noqa: E402
from stages.train import fid_curve  # noqa: E402

CPU = torch.device("cpu")


def main(steps: int, family: str, overrides: list[str], d_alone: int = 0) -> None:
    fixed = [f"train.steps={steps}", "train.budget_images=0", "train.fid_every=250", "train.collapse_steps=0"]
    cfg = validate(compose(["profile=table", *fixed, *overrides]))
    torch.set_num_threads(2)
    loop.CollapseWatch.healthy = lambda self, *args, **kwargs: True  # never stop on samples
    data = load_prepared(paths.trainset_dir(cfg.data.name), "train")
    model_cfg = cfg.models[family]
    curve = fid_curve(cfg, model_cfg.latent_dim, CPU)
    tick = time.time()
    result = loop.train_gan(cfg.train, model_cfg, data, CPU, None, "", progress=False, monitor=curve)
    for start in range(0, len(result.history), 100):
        rows = result.history[start : start + 100]
        d_loss, g_loss = rows[:, 1].mean(), rows[:, 2].mean()
        print(f"steps {start}-{start + len(rows)}: d_loss {d_loss:.4f} g_loss {g_loss:.3f}")
    print("FID curve (step, 1,000-sample FID):", curve.rows)
    across, within = health.sample_spread(result.generator, model_cfg.latent_dim, CPU)
    ratio = health.spread_ratio(across, within)
    print(f"end spread ratio {ratio:.3f} (across samples {across:.4f}, within one {within:.4f})")
    print(f"seconds {time.time() - tick:.0f}")
    if d_alone:
        attention_report(result.generator, result.discriminator, model_cfg.latent_dim)
        train_d_alone(result, data, model_cfg, cfg.train, d_alone)


def attention_report(generator: torch.nn.Module, discriminator: torch.nn.Module, latent_dim: int) -> None:
    """Each attention layer's gamma, and G's spread ratio with its attention switched off."""
    for name, net in (("G", generator), ("D", discriminator)):
        for layer_name, layer in net.named_modules():
            if isinstance(layer, SelfAttention):
                print(f"{name} attention {layer_name}: gamma {float(layer.gamma.detach()):.4f}")
    layers = [m for m in generator.modules() if isinstance(m, SelfAttention)]
    if layers:
        kept = [m.gamma.detach().clone() for m in layers]
        with torch.no_grad():
            for layer in layers:
                layer.gamma.zero_()
            ratio = health.spread_ratio(*health.sample_spread(generator, latent_dim, CPU))
            for layer, gamma in zip(layers, kept, strict=True):
                layer.gamma.copy_(gamma)
        print(f"spread ratio with G's attention off {ratio:.3f}")


def train_d_alone(
    result: loop.TrainResult, data: ImageSet, model_cfg: ModelConfig, train_cfg: TrainConfig, steps: int
) -> None:
    """G frozen, D trained alone with the family's objective and optimiser settings."""
    generator, discriminator = result.generator, result.discriminator
    objective = make_objective(model_cfg)
    draw = torch.Generator().manual_seed(1)
    _, lr_d = loop.learning_rates(train_cfg, model_cfg)
    optimizer = loop.make_optimizer(discriminator, lr_d, train_cfg, model_cfg, CPU)
    batch = train_cfg.batch_size

    def drawn() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        index = torch.randint(0, len(data.images), (batch,), generator=draw)
        real = to_signed_unit(data.images[index])
        labels = data.labels[index].long()
        with torch.no_grad():
            fake = generator(torch.randn(batch, model_cfg.latent_dim, generator=draw), labels)
        return real, fake, labels

    generator.train()  # as during training: batch statistics
    for step in range(1, steps + 1):
        real, fake, labels = drawn()
        discriminator.train()
        loss = objective.discriminator(discriminator, real, fake, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % 100 == 0:
            discriminator.eval()
            real, fake, labels = drawn()
            with torch.no_grad():
                p_real = torch.sigmoid(discriminator(real, labels)).mean()
                p_fake = torch.sigmoid(discriminator(fake, labels)).mean()
            what = f"mean p(real) {p_real:.3f} on real, {p_fake:.3f} on fake"
            print(f"D alone, step {step}: loss {loss.item():.4f}, {what}")


if __name__ == "__main__":
    args = sys.argv[3:]
    d_alone = int(args.pop(args.index("--d-alone") + 1)) if "--d-alone" in args else 0
    args = [a for a in args if a != "--d-alone"]
    main(int(sys.argv[1]), sys.argv[2], args, d_alone)
