"""A generator's scores: seeded samples -> features -> FID, KID, precision, recall, density
and coverage against the cached reference, the classifier score, and for conditional
generators class accuracy and intra-class FID."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

from stages.core.io import csv_text
from stages.core.schema import EvalConfig
from stages.gan.sampling import generated_batches
from stages.metrics.backbones import FeatureBackbone, ScoringClassifier
from stages.metrics.features import batch_features
from stages.metrics.fid import fid, fid_from_reference, kid
from stages.metrics.manifold import classifier_score, density_coverage, precision_recall

MANIFOLD_SAMPLES = 10000  # generated samples for precision/recall/density/coverage (memory: N x M)


@torch.inference_mode()
def score_generator(  # noqa: PLR0913
    generator: nn.Module,
    latent_dim: int,
    backbone: FeatureBackbone,
    reference: dict,
    cfg: EvalConfig,
    device: torch.device,
    classifier: ScoringClassifier | None = None,
    postprocess: Callable[[Tensor], Tensor] | None = None,
) -> dict:
    """Scores of `cfg.n_samples` seeded samples against the cached reference: FID, KID,
    precision, recall, density and coverage (on the first MANIFOLD_SAMPLES); with a
    `classifier`, the classifier score, and for a conditional generator the share of
    samples classified as the class they were generated for and the intra-class FID (mean
    over classes of the FID between a class's samples and its reference images)."""
    tick = time.perf_counter()
    backbone.to(device)
    features, logits, sample_labels = [], [], []
    batches = generated_batches(
        generator, cfg.n_samples, latent_dim, cfg.seed, device, cfg.batch_size, postprocess
    )
    for images, labels in batches:
        features.append(batch_features(backbone, images))
        if classifier is not None:
            logits.append(classifier.logits(images, features[-1]))
        if labels is not None:
            sample_labels.append(labels)
    features = torch.cat(features)
    seconds = time.perf_counter() - tick
    real = reference["kid_features"]
    scores = feature_scores(reference, features, cfg) | {
        "classifier_score": None,
        "class_accuracy": None,
        "intra_fid": None,
        "seconds": seconds,
    }
    if logits:
        logits = torch.cat(logits)
        scores["classifier_score"] = round(classifier_score(logits)[0], 4)
    if sample_labels:
        labels = torch.cat(sample_labels)
        if classifier is not None:
            scores["class_accuracy"] = round(float((logits.argmax(dim=1) == labels).double().mean()), 4)
        if "kid_labels" in reference:
            scores["intra_fid"] = round(intra_class_fid(real, reference["kid_labels"], features, labels), 4)
    return scores


def feature_scores(reference: dict, features: Tensor, cfg: EvalConfig) -> dict:
    """FID, KID, precision, recall, density and coverage of features (M, D) against the cached
    reference (its KID subset is the real side of the last four), rounded for JSON. KID
    subsets shrink to the smaller side when fewer images than eval.kid_subset_size are
    scored (a single class of the calibration ladder)."""
    real = reference["kid_features"]
    subset = min(cfg.kid_subset_size, len(real), len(features))
    kid_mean, kid_std = kid(real, features, subset, cfg.kid_subsets, cfg.seed)
    precision, recall = precision_recall(real, features[:MANIFOLD_SAMPLES])
    density, coverage = density_coverage(real, features[:MANIFOLD_SAMPLES])
    return {
        "fid": round(fid_from_reference(reference, features), 4),
        "kid_mean": round(kid_mean, 6),
        "kid_std": round(kid_std, 6),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "density": round(density, 4),
        "coverage": round(coverage, 4),
    }


def intra_class_fid(real: Tensor, real_labels: Tensor, fake: Tensor, fake_labels: Tensor) -> float:
    """Mean over the classes present on both sides of FID(real of class c, fake of class c)."""
    values = [
        fid(real[real_labels == c], fake[fake_labels == c])
        for c in sorted(set(real_labels.tolist()) & set(fake_labels.tolist()))
    ]
    return sum(values) / len(values)


class FidCurve:
    """FID of `samples` seeded samples every `every` training steps, against the evaluation's
    reference: a StepMonitor of the GAN loop (stages.gan.loop). Few samples bias FID
    upwards, so the curve shows a trend; evaluate's FID is the score."""

    def __init__(  # noqa: PLR0913
        self,
        backbone: FeatureBackbone,
        reference: dict,
        cfg: EvalConfig,
        latent_dim: int,
        device: torch.device,
        every: int,
        samples: int,
    ) -> None:
        self.backbone, self.reference, self.cfg = backbone.to(device), reference, cfg
        self.latent_dim, self.device, self.every, self.samples = latent_dim, device, every, samples
        self.rows: list[tuple[int, float]] = []

    def __call__(self, step: int, generator: nn.Module) -> None:
        was_training = generator.training
        batches = generated_batches(
            generator, self.samples, self.latent_dim, self.cfg.seed, self.device, self.cfg.batch_size
        )
        features = torch.cat([batch_features(self.backbone, images) for images, _ in batches])
        self.rows.append((step, round(fid_from_reference(self.reference, features), 4)))
        generator.train(was_training)

    def state_dict(self) -> dict:
        return {"rows": [list(row) for row in self.rows]}

    def load_state_dict(self, state: dict) -> None:
        self.rows = [(int(step), float(fid)) for step, fid in state["rows"]]

    def csv(self) -> str:
        return csv_text(["step", "fid"], self.rows, ["d", ".4f"])
