"""Sampling from conditional and unconditional generators, grids, and the leaderboard."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from stages.core.schema import Config
from stages.data.images import save_grid
from stages.gan.sampling import generated_batches, grid_inputs
from stages.models.registry import build_gan
from stages.report import leaderboard

CPU = torch.device("cpu")


def test_a_conditional_generator_gets_every_class_equally_often() -> None:
    generator, _ = build_gan("cgan1", latent_dim=16, image_size=32, n_classes=10)
    batches = list(generated_batches(generator, 100, 16, seed=0, device=CPU, batch_size=30))
    labels = torch.cat([labels for _, labels in batches])
    assert [len(images) for images, _ in batches] == [30, 30, 30, 10]
    assert torch.bincount(labels, minlength=10).tolist() == [10] * 10
    unconditional, _ = build_gan("dcgan3", latent_dim=16, image_size=32)
    assert all(labels is None for _, labels in generated_batches(unconditional, 10, 16, 0, CPU, 5))


def test_samples_are_seeded() -> None:
    generator, _ = build_gan("dcgan3", latent_dim=16, image_size=32)
    first = torch.cat([x for x, _ in generated_batches(generator, 8, 16, seed=1, device=CPU, batch_size=4)])
    again = torch.cat([x for x, _ in generated_batches(generator, 8, 16, seed=1, device=CPU, batch_size=4)])
    other = torch.cat([x for x, _ in generated_batches(generator, 8, 16, seed=2, device=CPU, batch_size=4)])
    assert first.dtype == torch.uint8 and torch.equal(first, again) and not torch.equal(first, other)


def test_a_conditional_grid_has_one_named_row_per_class(tmp_path: Path) -> None:
    generator, _ = build_gan("cgan1", latent_dim=16, image_size=32, n_classes=10)
    z, labels, per_row = grid_inputs(generator, 10, 10, 16, seed=0)
    assert z.shape == (100, 16) and per_row == 10
    assert labels.view(10, 10).tolist() == [[c] * 10 for c in range(10)]  # row c is class c
    images = torch.randint(0, 256, (100, 3, 32, 32), dtype=torch.uint8)
    save_grid(images, tmp_path / "plain.png", 10)
    save_grid(images, tmp_path / "named.png", 10, row_names=[f"class{c}" for c in range(10)])
    plain, named = Image.open(tmp_path / "plain.png"), Image.open(tmp_path / "named.png")
    assert plain.size == (10 * 34 + 2, 10 * 34 + 2)
    assert named.height == plain.height and named.width > plain.width + 30  # the name margin
    margin = np.asarray(named)[:, : named.width - plain.width]
    assert (margin < 128).any()  # some dark text was drawn in the white margin


def write_metrics(folder: Path, family: str, fid: float, accuracy: float | None) -> None:
    protocol = {
        "backbone": "featurenet",
        "backbone_weights_sha256": "ab" * 32,
        "backbone_test_accuracy": 0.8,
        "backbone_input_size": 32,
        "backbone_resize": "none",
        "n_generated": 100,
        "n_reference": 100,
        "dataset": "shapes",
        "reference_split": "train",
        "kid_subsets": 10,
        "kid_subset_size": 50,
        "seed": 0,
    }
    metrics = {
        "arch": family,
        "arch_family": "CGAN" if accuracy is not None else "DCGAN",
        "fid": fid,
        "kid_mean": 0.01,
        "class_accuracy": accuracy,
        "fid_untrained": 99.0,
        "d_loss": 0.5,
        "g_loss": 1.0,
        "train_seconds": 10.0,
        "train_images_per_second": 100.0,
        "params_generator": 1234567,
        "params_discriminator": 89,
        "protocol": protocol,
    }
    (folder / f"{family}.json").write_text(json.dumps(metrics))


def test_the_leaderboard_ranks_by_fid_and_shows_class_accuracy_for_conditional_models(
    base_config: Config, tmp_path: Path
) -> None:
    write_metrics(tmp_path, "dcgan3", fid=20.0, accuracy=None)
    write_metrics(tmp_path, "cgan1", fid=10.0, accuracy=0.625)
    cfg = dataclasses.replace(base_config, families=["dcgan3", "cgan1"])
    markdown, csv = leaderboard(cfg, tmp_path)
    rows = [
        line for line in markdown.splitlines() if line.startswith("| cgan1") or line.startswith("| dcgan3")
    ]
    assert [row.split("|")[1].strip() for row in rows] == ["cgan1", "dcgan3"]  # lower FID first
    cells = {row.split("|")[1].strip(): [c.strip() for c in row.split("|")[2:-1]] for row in rows}
    header = [
        c.strip() for c in markdown.splitlines()[markdown.splitlines().index(rows[0]) - 2].split("|")[1:-1]
    ]
    accuracy = header.index("class acc") - 1
    assert cells["cgan1"][accuracy] == "0.625" and cells["dcgan3"][accuracy] == ""
    assert cells["cgan1"][header.index("G params") - 1] == "1,234,567"
    assert cells["cgan1"][header.index("family") - 1] == "CGAN"
    assert isinstance(csv, pd.DataFrame) and list(csv["model"]) == ["cgan1", "dcgan3"]
