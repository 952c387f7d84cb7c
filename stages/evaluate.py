"""Stage `evaluate@<family>`: FID and KID of a trained generator, with their protocol.

    python -m stages.evaluate --family dcgan3

Writes reports/metrics/<family>.json, the DVC metric: fid, kid_mean, kid_std, precision,
recall, density, coverage, classifier_score (and for conditional models class_accuracy and
intra_fid), FID and KID of the untrained generator (same architecture and seed: the floor
every model must clear) and train_seconds. Beside it, not a metric, <family>.protocol.json:
`protocol` (backbone and weights sha256, sample counts, reference split, KID subsets,
seed, post-processing), so no number is read without its protocol, and `run` (architecture,
parameter counts, speeds, last losses, the untrained floor's other scores).
reports/eval_grids/<family>.png is the fixed-noise grid as scored, after eval.sharpen
(compare it with reports/samples/<family>/grid.png).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

import torch

from stages.core import paths
from stages.core.device import resolve_device, set_threads
from stages.core.errors import UserError
from stages.core.io import read_json, write_json
from stages.core.schema import Config, EvalConfig
from stages.core.stage import stage_main
from stages.data.images import save_grid
from stages.gan.augment import unsharp_mask
from stages.gan.sampling import build_untrained, grid_inputs, load_generator, sample_images
from stages.metrics.backbones import load_backbone, load_scoring_classifier
from stages.metrics.manifold import DENSITY_COVERAGE_K, PRECISION_RECALL_K
from stages.metrics.protocol import scoring_protocol
from stages.metrics.reference import load_reference
from stages.metrics.scoring import MANIFOLD_SAMPLES, score_generator

log = logging.getLogger("evaluate")


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
    backbone = load_backbone(cfg.eval, paths.featurenet_path(cfg.data.name))
    if backbone.info.weights_sha256 != ref_protocol["backbone"]["weights_sha256"]:
        raise UserError(
            f"reference statistics of {cfg.data.name} were computed with another backbone "
            f"({ref_protocol['backbone']['name']}); run `dvc repro -f reference_stats`"
        )
    generator, info = load_generator(paths.generator_path(family))
    # A classifier of the dataset's classes, whatever the FID backbone: its softmax gives the
    # classifier score, and it says whether a generated "cat" classifies as a cat.
    classifier = load_scoring_classifier(info["classes"], paths.featurenet_path(cfg.data.name), backbone)
    classifier = None if classifier is None else classifier.to(device)
    postprocess, postprocess_name = sharpening(cfg.eval)
    log.info("scoring %s: %d samples, backbone %s", family, cfg.eval.n_samples, backbone.info.name)
    latent_dim = info["latent_dim"]
    trained = score_generator(
        generator, latent_dim, backbone, reference, cfg.eval, device, classifier, postprocess
    )
    size = cfg.train.grid_size
    z, labels, per_row = grid_inputs(generator, size, size, latent_dim, cfg.train.seed)
    save_grid(
        sample_images(generator, z, device, labels, postprocess=postprocess),
        paths.eval_grid(family),
        per_row,
        info["classes"] if generator.n_classes else None,
    )

    summary = read_json(paths.train_summary(family))
    if summary.get("steps_done") == 0:  # failed before its first good checkpoint: the same weights
        untrained = trained
    else:
        torch.manual_seed(cfg.train.seed)  # the same initial weights the training run started from
        untrained_generator = build_untrained(info)
        untrained = score_generator(
            untrained_generator, latent_dim, backbone, reference, cfg.eval, device, classifier, postprocess
        )
    # what `dvc exp show` / `dvc metrics diff` compare: scores and training time only
    metrics = {
        "fid": trained["fid"],
        "kid_mean": trained["kid_mean"],
        "kid_std": trained["kid_std"],
        "precision": trained["precision"],
        "recall": trained["recall"],
        "density": trained["density"],
        "coverage": trained["coverage"],
        "classifier_score": trained["classifier_score"],
        "class_accuracy": trained["class_accuracy"],
        "intra_fid": trained["intra_fid"],
        "fid_untrained": untrained["fid"],
        "kid_untrained_mean": untrained["kid_mean"],
        "train_seconds": summary["train_seconds"],
    }
    metrics = {k: v for k, v in metrics.items() if v is not None}  # conditional-only ones
    protocol = {
        **scoring_protocol(ref_protocol, backbone.info, cfg.eval.n_samples, cfg.eval),
        "postprocess": postprocess_name,
        "n_manifold_generated": min(cfg.eval.n_samples, MANIFOLD_SAMPLES),
        "n_manifold_reference": len(reference["kid_features"]),
        "precision_recall_k": PRECISION_RECALL_K,
        "density_coverage_k": DENSITY_COVERAGE_K,
        "classifier": "none" if classifier is None else classifier.name,
        "classifier_weights_sha256": "" if classifier is None else classifier.weights_sha256,
    }
    run_facts = {
        "arch": summary["arch"],
        "arch_family": summary["arch_family"],
        "params_generator": summary["params_generator"],
        "params_discriminator": summary["params_discriminator"],
        "d_loss": summary["d_loss"],
        "g_loss": summary["g_loss"],
        "train_images_per_second": summary["train_images_per_second"],
        "arithmetic": summary.get("arithmetic", "fp32"),  # of training
        "steps": summary["steps"],
        # a failed run is scored on its last good weights; the leaderboard says so
        "steps_done": summary.get("steps_done", summary["steps"]),
        "failed": summary.get("failed", ""),
        "eval_images_per_second": round(cfg.eval.n_samples / trained["seconds"], 1),
        "precision_untrained": untrained["precision"],
        "recall_untrained": untrained["recall"],
        "classifier_score_untrained": untrained["classifier_score"],
    }
    write_json(paths.protocol_path(family), {"protocol": protocol, "run": run_facts})
    write_json(paths.metrics_path(family), metrics)
    log.info(
        "%s: FID %.2f (untrained %.2f), KID %.4f, precision %.3f, recall %.3f",
        family,
        metrics["fid"],
        metrics["fid_untrained"],
        metrics["kid_mean"],
        metrics["precision"],
        metrics["recall"],
    )
    return metrics


if __name__ == "__main__":
    stage_main(run, family=True)
