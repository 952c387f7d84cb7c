"""Datasets of one's own: folders in any layout, SVHN's .mat files, and a flat folder of
Monet paintings through the GAN stages at 64 px."""

from __future__ import annotations

import hashlib
import json
import math
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from stages.core.errors import UserError
from stages.data.folder import read_folder, read_mat, read_svhn
from tests.conftest import REPO
from tests.test_stages import error_lines, run_stage, write_params

MONET_ARCHIVE = REPO.parent / "shared/data/monet-kaggle/monet_jpg.tar.gz"


def images(folder: Path, count: int, seed: int, size: tuple[int, int] = (40, 30), mode: str = "RGB") -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        array = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(array).convert(mode).save(folder / f"img{i:03d}.png")


def test_a_flat_folder_is_one_class_with_a_seeded_held_out_share(tmp_path: Path) -> None:
    images(tmp_path / "paintings", 20, 0, size=(50, 30), mode="L")  # any size and mode
    data = read_folder(tmp_path / "paintings", 32, 0.25, seed=0)
    assert data.classes == ["paintings"]
    assert data.splits["train"].images.shape == (15, 3, 32, 32)
    assert data.splits["test"].images.shape == (5, 3, 32, 32)
    again = read_folder(tmp_path / "paintings", 32, 0.25, seed=0)
    assert np.array_equal(again.splits["test"].images, data.splits["test"].images)  # same bytes
    other = read_folder(tmp_path / "paintings", 32, 0.25, seed=1)
    assert not np.array_equal(other.splits["test"].images, data.splits["test"].images)


def test_class_folders_with_and_without_a_test_split(tmp_path: Path) -> None:
    for i, name in enumerate(("cats", "dogs")):
        images(tmp_path / "flat" / name, 10, i)
        images(tmp_path / "split" / "train" / name, 6, i)
        images(tmp_path / "split" / "test" / name, 2, i + 10)
    held = read_folder(tmp_path / "flat", 64, 0.1, seed=0)
    assert held.classes == ["cats", "dogs"] and held.splits["test"].labels.tolist() == [0, 1]
    assert held.splits["train"].images.shape == (18, 3, 64, 64)
    given = read_folder(tmp_path / "split", 32, 0.1, seed=0)
    assert len(given.splits["train"].labels) == 12 and len(given.splits["test"].labels) == 4


def test_bad_folders_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such folder"):
        read_folder(tmp_path / "missing", 32, 0.1, 0)
    images(tmp_path / "mixed" / "cats", 3, 0)
    images(tmp_path / "mixed", 2, 1)
    with pytest.raises(UserError, match="both class folders .* and loose images"):
        read_folder(tmp_path / "mixed", 32, 0.1, 0)
    images(tmp_path / "single", 1, 0)
    with pytest.raises(UserError, match="1 image; a class needs 2 or more"):
        read_folder(tmp_path / "single", 32, 0.1, 0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no images"):
        read_folder(tmp_path / "empty", 32, 0.1, 0)


def svhn_mat(path: Path, labels: list[int]) -> None:
    rng = np.random.default_rng(len(labels))
    x = rng.integers(0, 256, (32, 32, 3, len(labels)), dtype=np.uint8)
    savemat(path, {"X": x, "y": np.asarray(labels, dtype=np.uint8).reshape(-1, 1)})


def test_svhn_reads_its_mat_files_with_10_meaning_zero(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no train_32x32.mat or test_32x32.mat; download them"):
        read_svhn(tmp_path, 32)
    svhn_mat(tmp_path / "train_32x32.mat", [10, 3, 1, 10, 9])
    svhn_mat(tmp_path / "test_32x32.mat", [2, 10])
    data = read_svhn(tmp_path, 32)
    assert data.classes == [str(d) for d in range(10)]
    assert data.splits["train"].labels.tolist() == [0, 0, 1, 3, 9]  # sorted by label
    assert data.splits["test"].labels.tolist() == [0, 2]
    # extra.mat in SVHN's convention is read the same way
    _, labels = read_mat(tmp_path / "train_32x32.mat", 32, 10)
    assert labels.tolist() == [0, 3, 1, 0, 9]


@pytest.mark.slow
def test_a_flat_folder_of_monet_paintings_trains_and_evaluates_at_64_px(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not MONET_ARCHIVE.is_file():
        pytest.skip(f"{MONET_ARCHIVE} is not here")
    folder = tmp_path / "work/data/raw/mymonet"
    folder.mkdir(parents=True)
    with tarfile.open(MONET_ARCHIVE) as archive:
        members = sorted((m for m in archive if m.isfile() and m.name.endswith(".jpg")), key=lambda m: m.name)
        for member in members[:60]:
            (folder / Path(member.name).name).write_bytes(archive.extractfile(member).read())
    overrides = [
        "profile=smoke",
        "data=folder",
        "data.raw_dir=data/raw/mymonet",
        "data.name=mymonet",
        "data.image_size=64",
        "train.steps=10",
        "train.fid_every=0",
        "eval.n_samples=50",
        "eval.kid_subset_size=20",
    ]
    work = write_params(tmp_path / "work", overrides, monkeypatch)
    for stage in ("prepare", "featurenet", "reference_stats", "outliers", "trainset"):
        result = run_stage(work, stage)
        assert result.returncode == 0, result.stderr[-2000:]
    meta = json.loads((work / "data/prepared/mymonet/meta.json").read_text())
    assert meta["classes"] == ["mymonet"]
    first = hashlib.sha256((work / "data/prepared/mymonet/train_images.npy").read_bytes()).hexdigest()
    assert run_stage(work, "prepare").returncode == 0
    assert hashlib.sha256((work / "data/prepared/mymonet/train_images.npy").read_bytes()).hexdigest() == first
    for stage in ("train", "evaluate"):
        result = run_stage(work, stage, "--family", "dcgan3")
        assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((work / "reports/metrics/dcgan3.json").read_text())
    assert math.isfinite(metrics["fid"]) and math.isfinite(metrics["fid_untrained"])
    assert "classifier_score" not in metrics  # one class: nothing to classify
    protocol = json.loads((work / "reports/metrics/dcgan3.protocol.json").read_text())["protocol"]
    assert protocol["dataset"] == "mymonet" and protocol["backbone"] == "cifar_net"
    assert "bilinear antialias to 32 px" in protocol["backbone_resize"]
    assert Image.open(work / "reports/samples/dcgan3/grid.png").size[0] > 64 * 5
    # the classifier it did not train is asked for: one line, naming the file
    write_params(tmp_path / "work", [*overrides, "eval.backbone=featurenet"], monkeypatch)
    assert error_lines(run_stage(work, "evaluate", "--family", "dcgan3"))[0].startswith(
        "error: artifacts/featurenet/mymonet.pt: no featurenet was trained"
    )
