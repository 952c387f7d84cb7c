"""Stage `featurenet`: train the evaluation classifier and report its test accuracy.

    python -m stages.featurenet

Writes artifacts/featurenet/<dataset>.pt and reports/featurenet/<dataset>.json. Fails
(writing nothing) when the test accuracy is below featurenet.min_accuracy: FIDs in the
features of a weak classifier would mean little.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from stages.config import Config, FeaturenetConfig, load_params
from stages.data.augment import random_crop_flip
from stages.data.dataset import ImageSet, load_prepared, to_signed_unit
from stages.device import resolve_device, set_threads
from stages.errors import UserError, run_main
from stages.io import load_torch, save_torch, write_json
from stages.models.featurenet import FeatureNet
from stages.prepare import prepared_dir

log = logging.getLogger("featurenet")


def featurenet_path(dataset: str) -> Path:
    return Path("artifacts/featurenet") / f"{dataset}.pt"


def train_featurenet(
    cfg: FeaturenetConfig, train: ImageSet, device: torch.device, progress: bool = True
) -> FeatureNet:
    """SGD with Nesterov momentum and a one-cycle lr, crop+flip augmentation on the device."""
    torch.manual_seed(cfg.seed)
    model = FeatureNet(len(train.classes), cfg.width, tuple(cfg.convs)).to(
        device, memory_format=torch.channels_last
    )
    steps_per_epoch = len(train) // cfg.batch_size
    total = steps_per_epoch * cfg.epochs
    optimizer = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay
    )
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=cfg.lr, total_steps=total, pct_start=0.25
    )
    rng = torch.Generator().manual_seed(cfg.seed)
    images, labels = train.images.to(device), train.labels.to(device)
    bar = tqdm(total=total, desc="featurenet", disable=not progress, mininterval=2.0)
    model.train()
    for _ in range(cfg.epochs):
        order = torch.randperm(len(train), generator=rng).to(device)
        for i in range(steps_per_epoch):
            index = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            x = random_crop_flip(to_signed_unit(images[index]), 4, rng)
            loss = F.cross_entropy(model(x.contiguous(memory_format=torch.channels_last)), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.update(1)
            if i % 50 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    return model.eval()


@torch.inference_mode()
def accuracy(model: FeatureNet, data: ImageSet, device: torch.device, batch_size: int = 500) -> float:
    correct = 0
    for start in range(0, len(data), batch_size):
        x = data.images[start : start + batch_size].to(device)
        correct += int((model(x).argmax(1).cpu() == data.labels[start : start + batch_size]).sum())
    return correct / len(data)


def load_featurenet(path: str | Path) -> tuple[FeatureNet, dict]:
    """The trained classifier (eval mode, CPU) and its saved info."""
    info = load_torch(path)
    model = FeatureNet(len(info["classes"]), info["width"], tuple(info["convs"]))
    model.load_state_dict(info["state_dict"])
    return model.eval(), info


def run(cfg: Config, progress: bool = True) -> dict:
    set_threads(cfg.train.num_threads)
    device = resolve_device(cfg.featurenet.device)
    data_dir = prepared_dir(cfg.data)
    train, test = load_prepared(data_dir, "train"), load_prepared(data_dir, "test")
    log.info("training on %d images, %d epochs, device %s", len(train), cfg.featurenet.epochs, device)
    tick = time.perf_counter()
    model = train_featurenet(cfg.featurenet, train, device, progress)
    seconds = time.perf_counter() - tick
    test_accuracy = accuracy(model, test, device)
    log.info("test accuracy %.4f after %.0f s", test_accuracy, seconds)
    if test_accuracy < cfg.featurenet.min_accuracy:
        raise UserError(
            f"featurenet test accuracy {test_accuracy:.3f} < featurenet.min_accuracy "
            f"{cfg.featurenet.min_accuracy}: raise featurenet.epochs or featurenet.width"
        )
    model = model.cpu().to(memory_format=torch.contiguous_format)
    save_torch(
        featurenet_path(cfg.data.name),
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
    write_json(Path("reports/featurenet") / f"{cfg.data.name}.json", metrics)
    return metrics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    run(load_params(args.params))


if __name__ == "__main__":
    run_main(main)
