"""Stages as a user runs them: deterministic outputs, and one clear line for bad input."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from stages.core.schema import compose, dump_yaml
from tests.conftest import REPO


def write_params(folder: Path, overrides: list[str], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(REPO)
    values = compose(overrides)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.yaml").write_text(dump_yaml(values))
    return folder


def run_stage(folder: Path, module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", f"stages.{module}", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    """The `error:` lines of a stage's stderr (its progress log goes there too)."""
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def tree_hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_prepare_twice_writes_identical_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = write_params(tmp_path, ["data=shapes", "data.n_train=300", "data.n_test=100"], monkeypatch)
    first = run_stage(work, "prepare", "--out", "first")
    second = run_stage(work, "prepare", "--out", "second")
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    hashes = tree_hashes(work / "first")
    assert set(hashes) == {
        "meta.json",
        "train_images.npy",
        "train_labels.npy",
        "test_images.npy",
        "test_labels.npy",
    }
    assert hashes == tree_hashes(work / "second")


def test_missing_data_folder_fails_in_one_line_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = write_params(tmp_path, ["data.raw_dir=missing/cifar10", "data.download=false"], monkeypatch)
    result = run_stage(work, "prepare")
    assert result.returncode == 2
    assert error_lines(result) == [result.stderr.strip().splitlines()[-1]]
    assert error_lines(result)[0].startswith("error: missing/cifar10: no CIFAR-10 found")
    assert not (work / "data" / "prepared").exists()


def test_unknown_family_fails_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = write_params(tmp_path, ["data=shapes"], monkeypatch)
    result = run_stage(work, "train", "--family", "nope")
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert line.startswith("error: --family nope: no models.nope in params (known: cgan1, ")
    assert ", dcgan3, " in line


def test_a_bad_value_in_params_yaml_fails_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = write_params(tmp_path, ["data=shapes"], monkeypatch)
    values = yaml.safe_load((work / "params.yaml").read_text())
    values["train"]["lr_g"] = "abc"
    (work / "params.yaml").write_text(yaml.safe_dump(values))
    result = run_stage(work, "train", "--family", "dcgan3")
    assert result.returncode == 2
    assert len(error_lines(result)) == 1 and "train.lr_g" in error_lines(result)[0]
    assert not (work / "artifacts").exists()


def test_ctrl_c_saves_a_checkpoint_and_the_rerun_ends_like_an_uninterrupted_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal
    import time

    import torch

    overrides = [
        "data=shapes",
        "data.n_train=200",
        "data.n_test=50",
        "train.steps=120",
        "train.batch_size=16",
        "train.checkpoint_every=1000",
        "train.num_threads=1",
        "train.fid_every=0",  # no reference statistics in this folder
    ]
    runs = {}
    for name in ("straight", "interrupted"):
        work = write_params(tmp_path / name, overrides, monkeypatch)
        for stage in ("prepare", "outliers", "trainset"):
            assert run_stage(work, stage).returncode == 0
        runs[name] = work
    assert run_stage(runs["straight"], "train", "--family", "dcgan3").returncode == 0

    work = runs["interrupted"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "stages.train", "--family", "dcgan3"],
        cwd=work,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while "train:" not in (line := proc.stderr.readline()) or "%" not in line:  # the progress bar is up
        assert time.time() < deadline and proc.poll() is None, "train never started"
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    checkpoint = torch.load(work / "checkpoints/dcgan3/last.pt", weights_only=True)
    assert 0 < checkpoint["step"] < 120
    assert not (work / "artifacts/dcgan3/generator.pt").exists()

    resumed = run_stage(work, "train", "--family", "dcgan3")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from checkpoints/dcgan3/last.pt at step {checkpoint['step']}" in resumed.stderr
    assert not (work / "checkpoints/dcgan3/last.pt").exists()
    a = torch.load(runs["straight"] / "artifacts/dcgan3/generator.pt", weights_only=True)["state_dict"]
    b = torch.load(work / "artifacts/dcgan3/generator.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (runs["straight"] / "reports/losses/dcgan3.csv").read_text() == (
        work / "reports/losses/dcgan3.csv"
    ).read_text()


def test_outliers_and_trainset_stages_filter_append_and_balance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import numpy as np
    from scipy.io import savemat

    overrides = [
        "data=shapes",
        "data.n_train=300",
        "data.n_test=50",
        "outliers.fraction=0.1",
        "outliers.epochs=2",
        "outliers.batch_size=64",
        "extra.mat=data/extra/extra.mat",
        "extra.label=ring",
        "oversample.balance=true",
    ]
    work = write_params(tmp_path, overrides, monkeypatch)
    (work / "data/extra").mkdir(parents=True)
    savemat(work / "data/extra/extra.mat", {"X": np.zeros((32, 32, 3, 5), np.uint8), "y": np.zeros(5)})
    for stage in ("prepare", "outliers", "trainset"):
        result = run_stage(work, stage)
        assert result.returncode == 0, result.stderr
    counts = json.loads((work / "reports/outliers/counts.json").read_text())
    assert counts["dropped_total"] == 30 and counts["kept_total"] == 270
    assert sum(counts["dropped"].values()) == 30 and counts["kept"]["circle"] <= 30
    assert (work / "reports/outliers/dropped.png").stat().st_size > 1000
    trainset = json.loads((work / "reports/trainset.json").read_text())
    assert trainset["extra_mat"] == 5
    largest = max(n + (5 if name == "ring" else 0) for name, n in counts["kept"].items())
    assert set(trainset["trainset"].values()) == {largest} and trainset["total"] == 10 * largest
    labels = np.load(work / "data/trainset/shapes/train_labels.npy")
    assert np.bincount(labels).tolist() == [largest] * 10
    first = tree_hashes(work / "data/trainset")
    assert run_stage(work, "trainset").returncode == 0
    assert tree_hashes(work / "data/trainset") == first  # seeded: the same bytes again


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["extra.images=data/extra/nowhere", "extra.label=ring"],
            "extra.images='data/extra/nowhere': no such folder",
        ),
        (["extra.mat=data/extra/none.mat"], "extra.mat='data/extra/none.mat': no such file"),
        (["oversample.target=100"], "oversample.target=100 is below the 300 training images"),
    ],
)
def test_bad_training_set_inputs_fail_in_one_line_and_write_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overrides: list[str], message: str
) -> None:
    work = write_params(
        tmp_path, ["data=shapes", "data.n_train=300", "data.n_test=50", *overrides], monkeypatch
    )
    for stage in ("prepare", "outliers"):
        assert run_stage(work, stage).returncode == 0
    result = run_stage(work, "trainset")
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert line.startswith(f"error: {message}")
    assert not (work / "data/trainset").exists() and not (work / "reports/trainset.json").exists()


def test_train_with_two_processes_runs_under_torchrun_and_rank0_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    overrides = ["data=shapes", "data.n_train=200", "data.n_test=50", "train.steps=6", "train.batch_size=16"]
    overrides.append("train.fid_every=0")  # no reference statistics in this folder
    work = write_params(tmp_path, [*overrides, "train.nproc_per_node=2"], monkeypatch)
    for stage in ("prepare", "outliers", "trainset"):
        assert run_stage(work, stage).returncode == 0
    done = run_stage(work, "train", "--family", "dcgan3")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rank 1 of 2" in done.stderr and "rank 0 of 2" in done.stderr
    summary = json.loads((work / "reports/train/dcgan3/summary.json").read_text())
    assert summary["processes"] == 2 and summary["steps"] == 6
    assert summary["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert (work / "artifacts/dcgan3/generator.pt").is_file()
    assert len((work / "reports/losses/dcgan3.csv").read_text().splitlines()) == 7
    assert not (work / "checkpoints").exists() or not any((work / "checkpoints").rglob("*.pt"))


def test_a_degenerate_featurenet_stops_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # two epochs at a tiny learning rate: no better than guessing the largest class
    overrides = ["data=shapes", "profile=smoke", "featurenet.lr=1e-7", "featurenet.min_accuracy=0"]
    work = write_params(tmp_path, overrides, monkeypatch)
    assert run_stage(work, "prepare").returncode == 0
    result = run_stage(work, "featurenet")
    lines = error_lines(result)
    assert result.returncode == 2 and len(lines) == 1 and "within 0.1 of chance" in lines[0], result.stderr[
        -2000:
    ]
    assert not (work / "artifacts/featurenet/shapes.pt").exists()


def test_one_class_trains_no_featurenet_and_only_asking_for_it_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    overrides = ["data=shapes", "profile=smoke", "data.n_train=200", "data.n_test=50"]
    work = write_params(tmp_path, overrides, monkeypatch)
    assert run_stage(work, "prepare").returncode == 0
    prepared = work / "data/prepared/shapes"
    for split in ("train", "test"):  # keep one class of the generated shapes: a flat folder's case
        labels = np.load(prepared / f"{split}_labels.npy")
        np.save(prepared / f"{split}_labels.npy", np.zeros_like(labels))
    result = run_stage(work, "featurenet")
    assert result.returncode == 0 and "no classifier trained" in result.stderr
    assert json.loads((work / "reports/featurenet/shapes.json").read_text()) == {"num_classes": 1}
    assert run_stage(work, "reference_stats").returncode == 0  # the shipped backbone needs no classifier
    write_params(tmp_path, [*overrides, "eval.backbone=featurenet"], monkeypatch)
    result = run_stage(work, "reference_stats")
    assert result.returncode == 2 and error_lines(result) == [
        "error: artifacts/featurenet/shapes.pt: no featurenet was trained (1 class with images: nothing "
        "to classify); use eval.backbone=cifar_net or inception, and style.backbone=vgg19"
    ]


def test_sample_writes_pngs_or_an_npz_of_the_trained_generator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np
    from PIL import Image

    overrides = ["data=shapes", "data.n_train=200", "data.n_test=50", "train.steps=5", "train.batch_size=16"]
    work = write_params(tmp_path, [*overrides, "train.fid_every=0", "train.num_threads=1"], monkeypatch)
    result = run_stage(work, "sample", "--family", "dcgan3", "--n", "3", "--out", "s")
    assert result.returncode == 2 and error_lines(result) == [
        "error: artifacts/dcgan3/generator.pt: no trained generator of dcgan3; "
        "run `dvc repro train@dcgan3` first"
    ]
    for stage in ("prepare", "outliers", "trainset"):
        assert run_stage(work, stage).returncode == 0
    assert run_stage(work, "train", "--family", "dcgan3").returncode == 0
    result = run_stage(work, "sample", "--family", "dcgan3", "--n", "7", "--out", "pngs")
    assert result.returncode == 0, result.stderr
    pngs = sorted((work / "pngs").iterdir())
    assert [p.name for p in pngs] == [f"{i:06d}.png" for i in range(7)]
    assert run_stage(work, "sample", "--family", "dcgan3", "--n", "7", "--out", "s.npz").returncode == 0
    arrays = np.load(work / "s.npz")
    assert arrays["arr_0"].shape == (7, 32, 32, 3) and arrays["arr_0"].dtype == np.uint8
    assert np.array_equal(arrays["arr_0"][3], np.asarray(Image.open(pngs[3])))  # same seed, same images
    assert "labels" not in arrays  # unconditional
