"""Stage `evaluate_cyclegan`: FID, KID and MiFID of translated held-out photos against domain B.

python -m stages.evaluate_cyclegan [--params params.yaml]

Translates the held-out A images (never trained on) with g_ab and compares their features
with those of every B image. The same numbers for the untranslated photos are the floor a
translation must beat. Writes reports/cyclegan/metrics.json (the DVC metric: the numbers),
reports/cyclegan/protocol.json beside it (backbone, hashes, counts, seconds) and
reports/cyclegan/translations.png (photo | translated | rebuilt).
"""

from __future__ import annotations

import logging
import time

import torch

from stages.core import paths
from stages.core.device import resolve_device, set_threads
from stages.core.io import sha256_file, write_json
from stages.core.schema import Config
from stages.core.stage import stage_main
from stages.cyclegan.translation import load_generators, save_triptych, translate
from stages.data.domains import load_domains
from stages.data.images import channels_first
from stages.metrics.backbones import load_backbone
from stages.metrics.features import extract_features
from stages.metrics.fid import fid, kid, memorization_distance, mifid

log = logging.getLogger("evaluate_cyclegan")

MIFID_EPS = 0.1  # Kaggle's and torchmetrics' threshold
GRID_PHOTOS = 8


def scores(real: torch.Tensor, fake: torch.Tensor, subset: int, subsets: int, seed: int) -> dict:
    fid_value = fid(real, fake)
    distance = memorization_distance(real, fake)
    kid_mean, kid_std = kid(real, fake, subset, subsets, seed)
    return {
        "fid": round(fid_value, 4),
        "mifid": round(mifid(fid_value, distance, MIFID_EPS), 4),
        "memorization_distance": round(distance, 6),
        "kid_mean": round(kid_mean, 6),
        "kid_std": round(kid_std, 6),
    }


def run(cfg: Config) -> dict:
    set_threads(cfg.train.num_threads)
    device = resolve_device(cfg.cyclegan.device)
    weights = paths.cyclegan_path(cfg.domains.name)
    g_ab, g_ba, _ = load_generators(weights)
    images_a, images_b, test = load_domains(cfg.domains.name)
    photos = images_a[test]
    # not the featurenet of data.name: domains are any two folders, CIFAR-10 need not be here
    backbone = load_backbone(cfg.eval, None)
    tick = time.perf_counter()
    translated = translate(g_ab, photos, device, cfg.cyclegan.eval_batch_size)
    batch = cfg.eval.batch_size
    real = extract_features(backbone, channels_first(images_b).split(batch), device)
    fake = extract_features(backbone, translated.split(batch), device)
    untouched = extract_features(backbone, channels_first(photos).split(batch), device)
    subset = min(cfg.eval.kid_subset_size, len(real), len(fake))
    dim = real.shape[1]
    if min(len(real), len(fake)) <= dim:
        # a covariance of n <= d feature vectors is singular: FID is then biased and unstable
        log.warning(
            "%d translated vs %d reference images in %d-d features: FID's covariances are "
            "rank-deficient; read KID (unbiased at any size), or hold out more of domain A "
            "(domains.test_fraction)",
            len(fake),
            len(real),
            dim,
        )
    seed = cfg.eval.seed
    metrics = scores(real, fake, subset, cfg.eval.kid_subsets, seed)
    floor = scores(real, untouched, subset, cfg.eval.kid_subsets, seed)
    metrics |= {f"{key}_untranslated": value for key, value in floor.items()}
    protocol = {
        "backbone": backbone.info.as_dict(),
        "domains": cfg.domains.name,
        "image_size": int(images_a.shape[1]),
        "n_generated": len(fake),
        "generated": "held-out A images translated by g_ab",
        "n_reference": len(real),
        "feature_dim": int(dim),
        "reference": "every B image",
        "kid_subsets": cfg.eval.kid_subsets,
        "kid_subset_size": subset,
        "mifid_eps": MIFID_EPS,
        "mifid_distance": "mean over generated of min over reference of 1 - |cos|",
        "generator_sha256": sha256_file(weights),
        "seed": seed,
    }
    write_json(paths.CYCLEGAN_REPORTS / "metrics.json", metrics)
    seconds = round(time.perf_counter() - tick, 1)
    write_json(paths.CYCLEGAN_REPORTS / "protocol.json", {"protocol": protocol, "seconds": seconds})
    save_triptych(
        g_ab.to(device),
        g_ba.to(device),
        photos[:GRID_PHOTOS],
        device,
        paths.CYCLEGAN_REPORTS / "translations.png",
    )
    log.info(
        "%s: FID %.2f, MiFID %.2f (untranslated photos: FID %.2f), %d vs %d images, backbone %s",
        cfg.domains.name,
        metrics["fid"],
        metrics["mifid"],
        metrics["fid_untranslated"],
        len(fake),
        len(real),
        backbone.info.name,
    )
    return metrics


if __name__ == "__main__":
    stage_main(run)
