"""Stage `metric_ladder`: what the evaluation protocol's numbers mean, measured.

    python -m stages.metric_ladder

Scores known degradations of held-out real images (noise, blur, lower resolution, JPEG,
a colour cast, dropped classes) and the untrained DCGAN 3 exactly as `evaluate` scores a
generator (same backbone, reference statistics, sample count and seed), and writes
reports/metric_ladder.md (a table, worst last) and reports/metric_ladder.json.
`ladder.rungs=core` (the CPU profile) scores 7 of the 16 rungs; a rung's scores do not
depend on which others ran.
"""

from __future__ import annotations

import logging

import torch

from stages.core import paths
from stages.core.device import resolve_device, set_threads
from stages.core.errors import UserError
from stages.core.io import write_json, write_text
from stages.core.schema import Config
from stages.core.stage import stage_main
from stages.data.dataset import load_prepared
from stages.metrics.backbones import FeatureBackbone, load_backbone
from stages.metrics.features import extract_features
from stages.metrics.ladder import RUNGS, rung_images, rung_names
from stages.metrics.protocol import protocol_line, scoring_protocol
from stages.metrics.reference import load_reference
from stages.metrics.scoring import feature_scores

log = logging.getLogger("metric_ladder")

COLUMNS = [("fid", "FID", ".2f"), ("kid_mean", "KID", ".4f"), ("precision", "precision", ".3f")]
COLUMNS += [("recall", "recall", ".3f"), ("density", "density", ".3f"), ("coverage", "coverage", ".3f")]


def ladder_scores(  # noqa: PLR0913
    backbone: FeatureBackbone,
    reference: dict,
    held_out: torch.Tensor,
    labels: torch.Tensor,
    cfg: Config,
    device: torch.device,
) -> list[dict]:
    """One row per rung: its name, kind, image count and scores. `held_out` (N, 3, H, W)
    uint8 images that the reference never saw, in a seeded random order."""
    count = min(cfg.eval.n_samples, len(held_out))
    rows = []
    for name in rung_names(cfg.ladder.rungs):
        kind = RUNGS[name][0]
        images = rung_images(name, held_out, labels, count, cfg.eval.seed)
        features = extract_features(backbone, images.split(cfg.eval.batch_size), device)
        rows.append(
            {"rung": name, "kind": kind, "images": len(images)}
            | feature_scores(reference, features, cfg.eval)
        )
        log.info(
            "%-34s FID %8.2f  precision %.3f  recall %.3f",
            name,
            rows[-1]["fid"],
            rows[-1]["precision"],
            rows[-1]["recall"],
        )
    return rows


def to_markdown(rows: list[dict], protocol: dict) -> str:
    header = "| rung | images | " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    lines = [
        "# Metric calibration ladder",
        "",
        "Known degradations of held-out real images and the untrained DCGAN 3, scored exactly as "
        "`evaluate` scores a generator. A generator's FID reads against these rows: below "
        "`blur σ=1` its samples are closer to the data than a blurred photo.",
        "",
        protocol_line(protocol),
        "",
        header,
        "| --- | ---: | " + " | ".join("---:" for _ in COLUMNS) + " |",
    ]
    for row in rows:
        cells = " | ".join(format(row[key], fmt) for key, _, fmt in COLUMNS)
        lines.append(f"| {row['rung']} | {row['images']:,} | {cells} |")
    return "\n".join(lines) + "\n"


def run(cfg: Config) -> list[dict]:
    set_threads(cfg.train.num_threads)
    device = resolve_device(cfg.eval.device)
    reference, ref_protocol = load_reference(cfg.data.name)
    backbone = load_backbone(cfg.eval, paths.featurenet_path(cfg.data.name))
    if backbone.info.weights_sha256 != ref_protocol["backbone"]["weights_sha256"]:
        raise UserError(f"reference statistics of {cfg.data.name} were computed with another backbone")
    # the split the reference statistics did not use
    held_split = "test" if cfg.eval.reference_split.value == "train" else "train"
    held = load_prepared(paths.prepared_dir(cfg.data.name), held_split)
    order = torch.randperm(len(held), generator=torch.Generator().manual_seed(cfg.eval.seed))
    rows = ladder_scores(backbone, reference, held.images[order], held.labels[order], cfg, device)
    protocol = {
        **scoring_protocol(ref_protocol, backbone.info, min(cfg.eval.n_samples, len(held)), cfg.eval),
        "held_out_split": held_split,
    }
    write_text(paths.REPORTS / "metric_ladder.md", to_markdown(rows, protocol))
    write_json(paths.REPORTS / "metric_ladder.json", {"protocol": protocol, "rungs": rows})
    return rows


if __name__ == "__main__":
    stage_main(run)
