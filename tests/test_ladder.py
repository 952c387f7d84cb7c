"""The calibration ladder on real CIFAR-10 test images with the shipped classifier: the
orders a person would agree with must hold, or the protocol's numbers cannot be trusted.

Uses ../shared/data/cifar10-jpg (CI has it at the same path); the reference is half of the
test split, the rungs are built from the other half.
"""

from __future__ import annotations

import dataclasses
import tarfile
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
import torch

from stages.core.schema import Config
from stages.data.readers import CIFAR10_CLASSES, decode_image
from stages.metric_ladder import ladder_scores, to_markdown
from stages.metrics.backbones import load_cifar_net_backbone
from stages.metrics.features import extract_features
from stages.metrics.fid import reference_statistics
from tests.conftest import REPO

TEST_ARCHIVE = REPO.parent / "shared/data/cifar10-jpg/cifar10_jpg_test.tar.gz"
pytestmark = pytest.mark.skipif(not TEST_ARCHIVE.is_file(), reason=f"{TEST_ARCHIVE} not here")


def cifar_test_split(archive: Path) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    with tarfile.open(archive) as tar:
        for member in sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name):
            cls = PurePosixPath(member.name).parts[-2]
            images.append(decode_image(tar.extractfile(member).read(), member.name, 32))
            labels.append(CIFAR10_CLASSES.index(cls))
    return torch.from_numpy(np.stack(images)), torch.tensor(labels)


@pytest.fixture(scope="module")
def ladder() -> dict[str, dict]:
    images, labels = cifar_test_split(TEST_ARCHIVE)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    images, labels = images[order], labels[order]
    cfg = Config()
    cfg.eval = dataclasses.replace(
        cfg.eval, n_samples=1500, kid_subset_size=500, kid_subsets=20, batch_size=500
    )
    # float32: features within 1e-6 (relative) of the protocol's float64 ones at a third of
    # the time on 2 cores; the orders asserted below have margins of 10 % and more
    backbone = load_cifar_net_backbone()
    backbone.network.float()
    device = torch.device("cpu")
    reference_images = images[:5000]
    features = extract_features(backbone, reference_images.split(500), device)
    reference = reference_statistics(features, 5000, 0, labels[:5000])
    rows = ladder_scores(backbone, reference, images[5000:], labels[5000:], cfg, device)
    return {row["rung"]: row for row in rows}


def test_fid_orders_the_rungs_as_a_person_would(ladder: dict[str, dict]) -> None:
    fid = {name: row["fid"] for name, row in ladder.items()}
    assert fid["real (held out)"] < fid["noise σ=0.02"] < fid["blur σ=1"]
    assert fid["noise σ=0.02"] < fid["16-px down-and-up"]
    blobs = fid["4-px down-and-up (colour blobs)"]
    assert max(fid["blur σ=1"], fid["16-px down-and-up"]) < blobs < fid["untrained generator (DCGAN 3)"]
    assert fid["blur σ=0.5"] < fid["blur σ=1"] < fid["blur σ=2"]
    assert fid["16-px down-and-up"] < fid["8-px down-and-up"] < blobs
    assert fid["JPEG quality 50"] < fid["JPEG quality 10"]
    # dropping half the classes is clearly penalised: more than mild noise or mild blur
    assert fid["half the classes dropped"] > max(fid["noise σ=0.02"], fid["blur σ=0.5"])
    assert fid["a single class"] > fid["half the classes dropped"]


def test_recall_and_coverage_fall_with_lost_detail_and_lost_classes(ladder: dict[str, dict]) -> None:
    recall = {name: row["recall"] for name, row in ladder.items()}
    assert recall["real (held out)"] > recall["blur σ=1"] > recall["4-px down-and-up (colour blobs)"]
    assert recall["4-px down-and-up (colour blobs)"] >= recall["untrained generator (DCGAN 3)"]
    # dropping half the classes: recall falls only a little (the classes' features overlap;
    # 0.809 -> 0.787 in the CPU pipeline's ladder), coverage falls clearly
    assert recall["half the classes dropped"] < recall["real (held out)"]
    assert recall["a single class"] < recall["half the classes dropped"]
    coverage = {name: row["coverage"] for name, row in ladder.items()}
    assert coverage["half the classes dropped"] < coverage["real (held out)"] - 0.15
    assert coverage["a single class"] < coverage["half the classes dropped"]
    assert coverage["real (held out)"] > coverage["blur σ=1"] > coverage["blur σ=2"]
    assert coverage["4-px down-and-up (colour blobs)"] > coverage["untrained generator (DCGAN 3)"]


def test_the_markdown_lists_every_rung(ladder: dict[str, dict]) -> None:
    protocol = {
        "backbone": "cifar_net",
        "backbone_weights_sha256": "ab" * 32,
        "backbone_test_accuracy": 0.9,
        "backbone_input_size": 32,
        "backbone_resize": "none",
        "n_generated": 1500,
        "n_reference": 5000,
        "dataset": "cifar10",
        "reference_split": "test",
        "kid_subsets": 20,
        "kid_subset_size": 500,
        "seed": 0,
    }
    text = to_markdown(list(ladder.values()), protocol)
    assert all(f"| {name} |" in text for name in ladder)
