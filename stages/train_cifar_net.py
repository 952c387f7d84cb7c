"""`make cifar-net`: train the shipped evaluation classifier once and write its weights.

    python -m stages.train_cifar_net [--params params.yaml] [--out stages/metrics/weights/cifar_net.pt]

Trains stages.models.cifar_net on the prepared CIFAR-10 training split (`dvc repro prepare`
with data=cifar10 first) with the recipe in params.yaml's `cifar_net` section, measures
its test accuracy with and without test-time augmentation, and stops without writing
anything when it is below cifar_net.min_accuracy. The weights (float32, about 8 MB) are
committed; stages.metrics.backbones pins their sha256, so a retrained file is used only
after that pin is updated on purpose. reports/cifar_net.json records the run.
"""

from __future__ import annotations

import argparse
import logging
import time

import torch

from stages.core import paths
from stages.core.device import resolve_device, set_threads
from stages.core.errors import UserError
from stages.core.io import save_torch, sha256_file, write_json
from stages.core.schema import Config
from stages.core.stage import stage_main
from stages.data.dataset import dataset_fingerprint, load_prepared
from stages.metrics.classifier import train_cifar_net, tta_logits

log = logging.getLogger("train_cifar_net")

DATASET = "cifar10"


def output_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=str(paths.CIFAR_NET_WEIGHTS), help="where the weights go")


@torch.no_grad()
def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(dim=1) == labels).double().mean())


def run(cfg: Config, out: str) -> dict:
    set_threads(cfg.train.num_threads)
    device = resolve_device(cfg.cifar_net.device)
    data_dir = paths.prepared_dir(DATASET)
    if not (data_dir / "meta.json").is_file():
        raise UserError(
            f"{data_dir}: not found; prepare CIFAR-10 first (`dvc repro prepare` with data=cifar10)"
        )
    train, test = load_prepared(data_dir, "train"), load_prepared(data_dir, "test")
    log.info("training on %d images, %.1f epochs, device %s", len(train), cfg.cifar_net.epochs, device)
    tick = time.perf_counter()
    model, facts = train_cifar_net(cfg.cifar_net, train, device)
    seconds = time.perf_counter() - tick
    with torch.no_grad():
        plain = torch.cat([model(chunk) for chunk in test.images.split(1000)])
    test_accuracy = accuracy(plain, test.labels)
    tta_accuracy = accuracy(tta_logits(model, test.images), test.labels)
    log.info(
        "test accuracy %.4f (with test-time augmentation %.4f) after %.0f s",
        test_accuracy,
        tta_accuracy,
        seconds,
    )
    if test_accuracy < cfg.cifar_net.min_accuracy:
        raise UserError(
            f"cifar_net test accuracy {test_accuracy:.4f} < cifar_net.min_accuracy "
            f"{cfg.cifar_net.min_accuracy}: nothing written"
        )
    recipe = {k: (v.value if hasattr(v, "value") else v) for k, v in vars(cfg.cifar_net).items()}
    save_torch(
        out,
        {
            "classes": train.classes,
            "state_dict": model.state_dict(),
            "test_accuracy": round(test_accuracy, 4),
            "test_accuracy_tta": round(tta_accuracy, 4),
            "train_sha256": dataset_fingerprint(data_dir),
            "recipe": recipe,
        },
    )
    report = {
        "weights": out,
        "weights_sha256": sha256_file(out),
        "test_accuracy": round(test_accuracy, 4),
        "test_accuracy_tta": round(tta_accuracy, 4),
        "train_seconds": round(seconds, 1),
        "train_images": len(train),
        "test_images": len(test),
        "torch": torch.__version__,
        **facts,
        "recipe": recipe,
    }
    write_json(paths.REPORTS / "cifar_net.json", report)
    return report


if __name__ == "__main__":
    stage_main(run, options=output_option)
