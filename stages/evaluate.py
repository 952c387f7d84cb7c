"""Stage `evaluate@<family>`: FID and KID of a trained generator, with their protocol.

    python -m stages.evaluate --family dcgan3

Writes reports/metrics/<family>.json: fid, kid_mean, kid_std, the same for the
untrained generator (same architecture and seed: the floor every model must clear),
the training figures, and `protocol` (backbone and weights sha256, sample counts,
reference split, KID subsets, seed, post-processing) so no number is read without its
protocol. reports/eval_grids/<family>.png is the fixed-noise grid as scored, after
eval.sharpen (compare it with reports/samples/<family>/grid.png).
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch

from stages.augmentations import unsharp_mask
from stages.config import Config, EvalConfig, load_params
from stages.device import resolve_device, set_threads
from stages.errors import UserError, run_main
from stages.featurenet import featurenet_path, load_featurenet
from stages.io import read_json, write_json
from stages.metrics.backbones import load_backbone
from stages.metrics.fid import fid_from_reference, kid
from stages.reference_stats import load_reference
from stages.sampling import (
    build_untrained,
    generated_batches,
    grid_inputs,
    load_generator,
    sample_images,
    save_grid,
)
from stages.train import generator_path

log = logging.getLogger("evaluate")


@torch.inference_mode()
def score_generator(  # noqa: PLR0913
    generator,  # noqa: ANN001
    latent_dim: int,
    backbone,  # noqa: ANN001
    reference: dict,
    cfg: Config,
    device: torch.device,
    classifier: torch.nn.Module | None = None,
    postprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> dict:
    """FID/KID of `eval.n_samples` seeded samples against the cached reference. With a
    conditional generator and a `classifier`, also the share of samples classified as the
    class they were generated for."""
    e = cfg.eval
    tick = time.perf_counter()
    backbone.to(device)
    features, correct, labelled = [], 0, 0
    batches = generated_batches(generator, e.n_samples, latent_dim, e.seed, device, e.batch_size, postprocess)
    for images, labels in batches:
        features.append(backbone(images).double().cpu())
        if labels is not None and classifier is not None:
            correct += int((classifier(images).argmax(dim=1).cpu() == labels).sum())
            labelled += len(labels)
    features = torch.cat(features)
    seconds = time.perf_counter() - tick
    kid_mean, kid_std = kid(reference["kid_features"], features, e.kid_subset_size, e.kid_subsets, e.seed)
    return {
        "fid": round(fid_from_reference(reference, features), 4),
        "kid_mean": round(kid_mean, 6),
        "kid_std": round(kid_std, 6),
        "class_accuracy": round(correct / labelled, 4) if labelled else None,
        "seconds": seconds,
    }


def sharpening(cfg: EvalConfig) -> tuple[Callable[[torch.Tensor], torch.Tensor] | None, str]:
    """The post-processing of eval.sharpen and its name for the protocol."""
    if cfg.sharpen == 0:
        return None, "none"
    name = f"unsharp_mask(amount={cfg.sharpen:g}, sigma={cfg.sharpen_sigma:g})"
    return partial(unsharp_mask, amount=cfg.sharpen, sigma=cfg.sharpen_sigma), name


def run(cfg: Config, family: str) -> dict:
    if family not in cfg.models:
        raise UserError(f"--family {family}: no models.{family} in params")
    set_threads(cfg.train.num_threads)
    device = resolve_device(cfg.eval.device)
    reference, ref_protocol = load_reference(cfg.data.name)
    backbone = load_backbone(cfg.eval, featurenet_path(cfg.data.name))
    if backbone.info.weights_sha256 != ref_protocol["backbone"]["weights_sha256"]:
        raise UserError(
            f"reference statistics of {cfg.data.name} were computed with another backbone "
            f"({ref_protocol['backbone']['name']}); run `dvc repro -f reference_stats`"
        )
    generator, info = load_generator(generator_path(family))
    # does a generated "cat" classify as a cat? (the evaluation classifier, whatever the FID backbone)
    classifier = (
        load_featurenet(featurenet_path(cfg.data.name))[0].to(device) if generator.n_classes else None
    )
    postprocess, postprocess_name = sharpening(cfg.eval)
    log.info("scoring %s: %d samples, backbone %s", family, cfg.eval.n_samples, backbone.info.name)
    latent_dim = info["latent_dim"]
    trained = score_generator(
        generator, latent_dim, backbone, reference, cfg, device, classifier, postprocess
    )
    size = cfg.train.grid_size
    z, labels, per_row = grid_inputs(generator, size, size, latent_dim, cfg.train.seed)
    save_grid(
        sample_images(generator, z, device, labels, postprocess=postprocess),
        Path("reports/eval_grids") / f"{family}.png",
        per_row,
        info["classes"] if generator.n_classes else None,
    )

    torch.manual_seed(cfg.train.seed)  # the same initial weights the training run started from
    untrained_generator = build_untrained(info)
    untrained = score_generator(
        untrained_generator, latent_dim, backbone, reference, cfg, device, postprocess=postprocess
    )

    summary = read_json(Path("reports/train") / family / "summary.json")
    metrics = {
        "arch": summary["arch"],
        "arch_family": summary["arch_family"],
        "fid": trained["fid"],
        "kid_mean": trained["kid_mean"],
        "kid_std": trained["kid_std"],
        "class_accuracy": trained["class_accuracy"],
        "fid_untrained": untrained["fid"],
        "kid_untrained_mean": untrained["kid_mean"],
        "d_loss": summary["d_loss"],
        "g_loss": summary["g_loss"],
        "train_seconds": summary["train_seconds"],
        "train_images_per_second": summary["train_images_per_second"],
        "params_generator": summary["params_generator"],
        "params_discriminator": summary["params_discriminator"],
        "eval_images_per_second": round(cfg.eval.n_samples / trained["seconds"], 1),
        "protocol": {
            **{k: v for k, v in ref_protocol.items() if k != "backbone"},
            "backbone": backbone.info.name,
            "backbone_weights_sha256": backbone.info.weights_sha256,
            "backbone_input_size": backbone.info.input_size,
            "backbone_resize": backbone.info.resize,
            "backbone_test_accuracy": backbone.info.test_accuracy,
            "n_generated": cfg.eval.n_samples,
            "kid_subset_size": cfg.eval.kid_subset_size,
            "kid_subsets": cfg.eval.kid_subsets,
            "seed": cfg.eval.seed,
            "postprocess": postprocess_name,
        },
    }
    write_json(Path("reports/metrics") / f"{family}.json", metrics)
    log.info(
        "%s: FID %.2f (untrained %.2f), KID %.4f",
        family,
        metrics["fid"],
        metrics["fid_untrained"],
        metrics["kid_mean"],
    )
    return metrics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", required=True)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    run(load_params(args.params), args.family)


if __name__ == "__main__":
    run_main(main)
