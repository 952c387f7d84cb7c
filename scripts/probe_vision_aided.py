"""Does a discriminator that also sees a frozen classifier's features make make repro's
budget show objects? (Vision-aided D, after Kumari et al. 2022, "Ensembling Off-the-shelf
Models for GAN Training".) SNGAN of the CPU profile (width 64, DiffAugment, 2,000 steps at
batch 32) with its D extended by small heads (spectral-norm conv 3x3, LeakyReLU, conv 1x1,
mean over positions) on the featurenet stage's classifier at the chosen blocks, frozen; the
hinge loss then averages over SNGAN's logit and each head's. DiffAugment acts before both.
Per seed: training in memory, then make repro's scores (5,000 samples, cifar_net features)
and the fixed-noise grid, written to OUT/seed<N>/. Needs the featurenet, training set and
reference statistics that `dvc repro` writes; writes nothing else.

    python scripts/probe_vision_aided.py OUT --blocks 2,3,4 --seeds 0,1,2 [override ...]

The featurenet and the scoring backbone (cifar_net) are two CIFAR-10 classifiers: a G
trained to fool one is pushed towards the other's statistics too, so its FID in cifar_net
features can fall without images a person would call better. Read the grids.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn.utils import spectral_norm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stages.core import paths  # noqa: E402
from stages.core.device import arithmetic  # noqa: E402
from stages.core.schema import compose, validate  # noqa: E402
from stages.data.dataset import load_prepared  # noqa: E402
from stages.data.images import save_grid  # noqa: E402
from stages.gan import loop  # noqa: E402
from stages.gan.sampling import grid_inputs, sample_images  # noqa: E402
from stages.metrics.backbones import load_backbone, load_scoring_classifier  # noqa: E402
from stages.metrics.reference import load_reference  # noqa: E402
from stages.metrics.scoring import score_generator  # noqa: E402
from stages.models.featurenet import WIDTH_MULTIPLIERS, FeatureNet, load_featurenet  # noqa: E402

CPU = torch.device("cpu")
FAMILY = "sngan"


class FeatureHead(nn.Module):
    """One logit per image from a block's feature map."""

    def __init__(self, channels: int, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(
            spectral_norm(nn.Conv2d(channels, hidden, 3, padding=1)),
            nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv2d(hidden, 1, 1)),
        )

    def forward(self, features: Tensor) -> Tensor:
        return self.net(features).flatten(1).mean(1)


class VisionAided(nn.Module):
    """(N, 1 + heads) logits: the family's D, then one per featurenet block. The featurenet
    is held outside the module's parameters (frozen, eval mode, not in D's optimiser)."""

    def __init__(self, discriminator: nn.Module, featurenet: FeatureNet, blocks: list[int]) -> None:
        super().__init__()
        self.discriminator = discriminator
        self.frozen = (featurenet.requires_grad_(False).eval(),)
        # each chosen block's last ReLU (before its pooling) feeds that block's head
        self.taps = {f"relu{b}_{featurenet.convs[b - 1]}": str(b) for b in blocks}
        self.heads = nn.ModuleDict(
            {str(b): FeatureHead(featurenet.width * WIDTH_MULTIPLIERS[b - 1]) for b in blocks}
        )

    def forward(self, images: Tensor, labels: Tensor | None = None) -> Tensor:
        logits = [self.discriminator(images, labels).flatten()]
        h = images
        for name, layer in self.frozen[0].features.named_children():
            h = layer(h)
            if name in self.taps:
                logits.append(self.heads[self.taps[name]](h))
                if len(logits) == len(self.taps) + 1:
                    break
        return torch.stack(logits, dim=1)


def run_seed(out: Path, blocks: list[int], seed: int, overrides: list[str]) -> dict:
    cfg = validate(compose(["profile=cpu", "train.amp=auto", f"train.seed={seed}", *overrides]))
    featurenet_file = paths.featurenet_path(cfg.data.name)
    featurenet, _ = load_featurenet(featurenet_file)
    build = loop.build_gan

    def vision_aided(*args: object, **kwargs: object) -> tuple[nn.Module, nn.Module]:
        generator, discriminator = build(*args, **kwargs)
        return generator, VisionAided(discriminator, featurenet, blocks)

    loop.build_gan = vision_aided
    try:
        data = load_prepared(paths.trainset_dir(cfg.data.name), "train")
        tick = time.perf_counter()
        result = loop.train_gan(cfg.train, cfg.models[FAMILY], data, CPU, None, "", progress=False)
        seconds = time.perf_counter() - tick
    finally:
        loop.build_gan = build
    reference, _ = load_reference(cfg.data.name)
    backbone = load_backbone(cfg.eval, featurenet_file)
    classifier = load_scoring_classifier(data.classes, featurenet_file, backbone)
    latent_dim = cfg.models[FAMILY].latent_dim
    scores = score_generator(result.generator, latent_dim, backbone, reference, cfg.eval, CPU, classifier)
    folder = out / f"seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    size = cfg.train.grid_size
    z, labels, per_row = grid_inputs(result.generator, size, size, latent_dim, seed)
    save_grid(sample_images(result.generator, z, CPU, labels), folder / "grid.png", per_row)
    record = {
        "arithmetic": arithmetic(CPU, cfg.train.amp),
        "blocks": blocks,
        "failure": result.failure,
        "images_seen": result.images_seen,
        "scores": {k: v for k, v in scores.items() if k != "seconds" and v is not None},
        "seed": seed,
        "train_seconds": round(seconds, 1),
    }
    (folder / "metrics.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--blocks", default="2,3,4", help="featurenet blocks that get a head (1-4)")
    parser.add_argument("--seeds", default="0", help="training seeds, comma-separated")
    args, overrides = parser.parse_known_args()
    torch.set_num_threads(2)
    blocks = sorted(int(b) for b in args.blocks.split(","))
    for seed in (int(s) for s in args.seeds.split(",")):
        record = run_seed(args.out, blocks, seed, overrides)
        print(json.dumps(record, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
