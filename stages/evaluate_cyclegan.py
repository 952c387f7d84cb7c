"""Stage `evaluate_cyclegan`: FID, KID and MiFID of translated held-out photos against domain B.

python -m stages.evaluate_cyclegan [--params params.yaml]

Translates the held-out A images (never trained on) with g_ab and compares their features
with those of every B image. The same numbers for the untranslated photos are the floor a
translation must beat. Writes reports/cyclegan/metrics.json (with the protocol) and
reports/cyclegan/translations.png (photo | translated | rebuilt).
"""

from __future__ import annotations

import argparse
import logging
import time

import torch
import torch.nn.functional as F  # noqa: N812

from stages.config import load_params
from stages.device import resolve_device, set_threads
from stages.errors import run_main
from stages.featurenet import featurenet_path
from stages.io import sha256_file, write_json
from stages.metrics.backbones import FeatureBackbone, load_backbone
from stages.metrics.fid import fid, kid, memorization_distance, mifid
from stages.train_cyclegan import REPORTS, cyclegan_path, load_domains
from stages.translation import load_generators, save_triptych, translate

log = logging.getLogger("evaluate_cyclegan")

MIFID_EPS = 0.1  # Kaggle's and torchmetrics' threshold
GRID_PHOTOS = 8


def features_of(
    backbone: FeatureBackbone, images: torch.Tensor, device: torch.device, batch: int
) -> torch.Tensor:
    """Features of uint8 (N, 3, S, S); a classifier backbone first gets its own input size
    (antialiased bilinear), as Inception resizes inside itself."""
    size = backbone.info.input_size
    out = []
    backbone.to(device)
    for chunk in images.split(batch):
        chunk = chunk.to(device)
        if backbone.info.name == "featurenet" and chunk.shape[-1] != size:
            chunk = F.interpolate(chunk.float(), size=(size, size), mode="bilinear", antialias=True)
            chunk = chunk.round().clamp(0, 255).to(torch.uint8)
        out.append(backbone(chunk).double().cpu())
    return torch.cat(out)


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    cfg = load_params(args.params)
    set_threads(cfg.train.num_threads)
    device = resolve_device(cfg.cyclegan.device)
    weights = cyclegan_path(cfg.domains.name)
    g_ab, g_ba, _ = load_generators(weights)
    images_a, images_b, test = load_domains(cfg.domains.name)
    photos = images_a[test]
    backbone = load_backbone(cfg.eval, featurenet_path(cfg.data.name))
    tick = time.perf_counter()
    translated = translate(g_ab, photos, device, cfg.cyclegan.eval_batch_size)
    batch = cfg.eval.batch_size
    real = features_of(backbone, torch.from_numpy(images_b).permute(0, 3, 1, 2), device, batch)
    fake = features_of(backbone, translated, device, batch)
    untouched = features_of(backbone, torch.from_numpy(photos).permute(0, 3, 1, 2), device, batch)
    subset = min(cfg.eval.kid_subset_size, len(real), len(fake))
    seed = cfg.eval.seed
    metrics = scores(real, fake, subset, cfg.eval.kid_subsets, seed)
    floor = scores(real, untouched, subset, cfg.eval.kid_subsets, seed)
    metrics |= {f"{key}_untranslated": value for key, value in floor.items()}
    metrics["seconds"] = round(time.perf_counter() - tick, 1)
    metrics["protocol"] = {
        "backbone": backbone.info.as_dict()
        | (
            {"resize": f"bilinear antialias to {backbone.info.input_size} px"}
            if backbone.info.name == "featurenet"
            else {}
        ),
        "domains": cfg.domains.name,
        "image_size": int(images_a.shape[1]),
        "n_generated": len(fake),
        "generated": "held-out A images translated by g_ab",
        "n_reference": len(real),
        "reference": "every B image",
        "kid_subsets": cfg.eval.kid_subsets,
        "kid_subset_size": subset,
        "mifid_eps": MIFID_EPS,
        "mifid_distance": "mean over generated of min over reference of 1 - |cos|",
        "generator_sha256": sha256_file(weights),
        "seed": seed,
    }
    write_json(REPORTS / "metrics.json", metrics)
    save_triptych(
        g_ab.to(device), g_ba.to(device), photos[:GRID_PHOTOS], device, REPORTS / "translations.png"
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


if __name__ == "__main__":
    run_main(main)
