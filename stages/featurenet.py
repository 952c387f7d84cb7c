"""Stage `featurenet`: train the evaluation classifier and report its test accuracy.

    python -m stages.featurenet

Writes artifacts/featurenet/<dataset>.pt and reports/featurenet/<dataset>.json. Fails
(writing nothing) when the test accuracy is below featurenet.min_accuracy or within a
margin of chance: FIDs in the features of a weak classifier would mean little. A dataset
of one class (a flat folder of one's own images) has nothing to classify: the file then
says so, and only a stage that asks for this classifier stops, in one line.
"""

from __future__ import annotations

import logging
import time

import torch

from stages.core import paths
from stages.core.device import resolve_device, set_threads
from stages.core.errors import UserError
from stages.core.io import save_torch, write_json
from stages.core.schema import Config
from stages.core.stage import stage_main
from stages.data.dataset import load_prepared
from stages.metrics.classifier import accuracy, train_featurenet

log = logging.getLogger("featurenet")


CHANCE_MARGIN = 0.1  # a classifier within this of always guessing the largest class learned nothing


def run(cfg: Config, progress: bool = True) -> dict:
    set_threads(cfg.train.num_threads)
    device = resolve_device(cfg.featurenet.device)
    data_dir = paths.prepared_dir(cfg.data.name)
    train, test = load_prepared(data_dir, "train"), load_prepared(data_dir, "test")
    present = int((torch.bincount(train.labels, minlength=len(train.classes)) > 0).sum())
    if present < 2:
        # Nothing to classify (a flat folder of one's own images): no classifier, and a file
        # that says so, so the stages after this one run on the shipped backbone and stop with
        # one line only where they ask for this classifier (load_featurenet).
        log.warning(
            "%s has %d class with images: no classifier trained; evaluation uses cifar_net or "
            "Inception features (eval.backbone=auto), and there is no classifier score",
            data_dir,
            present,
        )
        save_torch(
            paths.featurenet_path(cfg.data.name),
            {"classes": train.classes, "state_dict": None, "reason": f"{present} class with images"},
        )
        metrics = {"num_classes": present}
        write_json(paths.FEATURENET_REPORTS / f"{cfg.data.name}.json", metrics)
        return metrics
    log.info("training on %d images, %d epochs, device %s", len(train), cfg.featurenet.epochs, device)
    tick = time.perf_counter()
    model = train_featurenet(cfg.featurenet, train, device, progress)
    seconds = time.perf_counter() - tick
    test_accuracy = accuracy(model, test, device)
    log.info("test accuracy %.4f after %.0f s", test_accuracy, seconds)
    chance = float(torch.bincount(test.labels, minlength=len(test.classes)).max()) / len(test)
    if test_accuracy < chance + CHANCE_MARGIN:
        raise UserError(
            f"featurenet: test accuracy {test_accuracy:.3f} is within {CHANCE_MARGIN} of chance "
            f"({chance:.3f}, always the largest class): its features would mean nothing; "
            "use eval.backbone=cifar_net (the shipped CIFAR-10 classifier) or eval.backbone=inception"
        )
    if test_accuracy < cfg.featurenet.min_accuracy:
        raise UserError(
            f"featurenet test accuracy {test_accuracy:.3f} < featurenet.min_accuracy "
            f"{cfg.featurenet.min_accuracy}: raise featurenet.epochs or featurenet.width"
        )
    model = model.cpu().to(memory_format=torch.contiguous_format)
    save_torch(
        paths.featurenet_path(cfg.data.name),
        {
            "classes": train.classes,
            "width": cfg.featurenet.width,
            "convs": list(cfg.featurenet.convs),
            "state_dict": model.state_dict(),
            "test_accuracy": test_accuracy,
            "image_size": train.images.shape[-1],
        },
    )
    metrics = {
        "test_accuracy": round(test_accuracy, 4),
        "train_seconds": round(seconds, 1),
        "num_features": model.num_features,
        "train_images": len(train),
        "test_images": len(test),
    }
    write_json(paths.FEATURENET_REPORTS / f"{cfg.data.name}.json", metrics)
    return metrics


if __name__ == "__main__":
    stage_main(run)
