"""End to end: a fresh copy of the repository, `dvc exp run` on the generated data."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def sh(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        # stage commands call `python`: the interpreter running the tests, with dvc beside it
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def fresh_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tracked files of this repository (as a clone would have them) in a new git repo."""
    work = tmp_path_factory.mktemp("pipeline") / "repo"
    tracked = sh(["git", "ls-files", "-z"], REPO).stdout.split("\0")
    for name in filter(None, tracked):
        source = REPO / name
        if source.is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, work / name)
    sh(["git", "init", "-q"], work)
    sh(["git", "add", "-A"], work)
    sh(["git", "commit", "-qm", "copy"], work)
    return work


def dvc() -> str:
    return str(BIN / "dvc")


def test_exp_run_on_shapes_writes_finite_metrics_and_a_leaderboard(fresh_repo: Path) -> None:
    result = sh([dvc(), "exp", "run", "-S", "data=shapes", "-S", "profile=smoke"], fresh_repo)
    # outputs of a dataset dvc.lock has not seen: DVC's checkout warning is dropped, and only it
    assert "No file hash info found" not in result.stdout + result.stderr
    metrics = json.loads((fresh_repo / "reports/metrics/dcgan3.json").read_text())
    for key in ("fid", "kid_mean", "kid_std", "fid_untrained", "train_seconds"):
        assert math.isfinite(metrics[key]), key
    assert metrics["fid"] > 0
    # the DVC metric holds numbers only; protocol and run facts sit beside it
    assert all(isinstance(v, float | int) for v in metrics.values())
    sibling = json.loads((fresh_repo / "reports/metrics/dcgan3.protocol.json").read_text())
    protocol, run_facts = sibling["protocol"], sibling["run"]
    assert math.isfinite(run_facts["d_loss"]) and math.isfinite(run_facts["precision_untrained"])
    # the shipped classifier's features by default; the scoring classifier of these (non-CIFAR)
    # classes is the featurenet the pipeline trained on them
    assert protocol["backbone"] == "cifar_net" and protocol["dataset"] == "shapes"
    assert protocol["classifier"] == "featurenet"
    for key in ("precision", "recall", "density", "coverage", "classifier_score"):
        assert math.isfinite(metrics[key]), key
    assert protocol["n_generated"] == 500 and protocol["reference_split"] == "train"
    assert len(protocol["backbone_weights_sha256"]) == 64
    board = (fresh_repo / "reports/leaderboard.md").read_text()
    assert "| dcgan3" in board and "Backbone cifar_net" in board
    # the FID curve (every 30 of 60 steps) and the calibration ladder
    curve = (fresh_repo / "reports/fid_curve/dcgan3.csv").read_text().splitlines()
    assert curve[0] == "step,fid" and [row.split(",")[0] for row in curve[1:]] == ["30", "60"]
    assert "| untrained generator (DCGAN 3) |" in (fresh_repo / "reports/metric_ladder.md").read_text()
    assert (fresh_repo / "reports/samples/dcgan3/grid.png").stat().st_size > 1000
    losses = (fresh_repo / "reports/losses/dcgan3.csv").read_text().splitlines()
    assert losses[0] == "step,d_loss,g_loss,lr_g,lr_d" and len(losses) == 61
    # the conditional family: class accuracy of its samples, and 10 more grids of 100
    conditional = json.loads((fresh_repo / "reports/metrics/cgan1.json").read_text())
    assert 0 <= conditional["class_accuracy"] <= 1 and "class_accuracy" not in metrics
    assert math.isfinite(conditional["intra_fid"]) and "intra_fid" not in metrics
    conditional_run = json.loads((fresh_repo / "reports/metrics/cgan1.protocol.json").read_text())["run"]
    assert conditional_run["arch_family"] == "CGAN" and conditional_run["params_generator"] > 0
    assert len(list((fresh_repo / "reports/samples/cgan1").glob("set_*.png"))) == 10
    assert "| cgan1" in board
    # the baseline trains on all of the prepared data: nothing filtered, added or resampled
    outliers = json.loads((fresh_repo / "reports/outliers/counts.json").read_text())
    assert outliers["dropped_total"] == 0 and outliers["kept_total"] == 5000
    assert json.loads((fresh_repo / "reports/trainset.json").read_text())["total"] == 5000
    assert protocol["postprocess"] == "none"
    # Up to date afterwards: nothing re-runs.
    status = sh([dvc(), "status", "--json"], fresh_repo)
    assert json.loads(status.stdout) == {}


def test_exp_run_with_a_bad_override_fails_before_any_stage(fresh_repo: Path) -> None:
    before = (fresh_repo / "params.yaml").read_text()
    result = sh([dvc(), "exp", "run", "-S", "train.lr_schedule=bogus"], fresh_repo, check=False)
    assert result.returncode != 0
    first = (result.stderr + result.stdout).strip().splitlines()[0]
    assert "train.lr_schedule=bogus" in first and "expected one of" in first
    assert "Running stage" not in result.stdout
    assert (fresh_repo / "params.yaml").read_text() == before


def test_an_override_reruns_only_what_depends_on_it(fresh_repo: Path) -> None:
    result = sh(
        [dvc(), "exp", "run", "-S", "data=shapes", "-S", "profile=smoke", "-S", "train.lr_schedule=exp"],
        fresh_repo,
    )
    ran = [line for line in result.stdout.splitlines() if line.startswith("Running stage")]
    assert sorted(ran) == [
        "Running stage 'evaluate@cgan1':",
        "Running stage 'evaluate@dcgan3':",
        "Running stage 'report':",
        "Running stage 'train@cgan1':",
        "Running stage 'train@dcgan3':",
    ]
    assert ran[-1] == "Running stage 'report':"
    lrs = [
        float(line.split(",")[3])
        for line in (fresh_repo / "reports/losses/dcgan3.csv").read_text().splitlines()[1:]
    ]
    assert lrs[0] == pytest.approx(2e-4) and lrs[-1] < lrs[0]


def ran_stages(result: subprocess.CompletedProcess) -> list[str]:
    return sorted(line for line in result.stdout.splitlines() if line.startswith("Running stage"))


def test_sharpening_reruns_only_evaluation_and_moves_fid_sanely(fresh_repo: Path) -> None:
    base = ["-S", "data=shapes", "-S", "profile=smoke", "-S", "train.lr_schedule=exp"]
    before = json.loads((fresh_repo / "reports/metrics/dcgan3.json").read_text())
    result = sh([dvc(), "exp", "run", *base, "-S", "eval.sharpen=1.0"], fresh_repo)
    assert ran_stages(result) == [
        "Running stage 'evaluate@cgan1':",
        "Running stage 'evaluate@dcgan3':",
        "Running stage 'report':",
    ]
    after = json.loads((fresh_repo / "reports/metrics/dcgan3.json").read_text())
    protocol = json.loads((fresh_repo / "reports/metrics/dcgan3.protocol.json").read_text())["protocol"]
    assert protocol["postprocess"] == "unsharp_mask(amount=1, sigma=1)"
    assert after["fid"] != before["fid"] and 1 / 3 < after["fid"] / before["fid"] < 3
    assert (fresh_repo / "reports/eval_grids/dcgan3.png").stat().st_size > 1000


def test_dvc_tools_show_readable_experiments_and_image_plots(fresh_repo: Path) -> None:
    # after the experiments above: each family's metrics are a dozen numbers, so that
    # `dvc exp show --only-changed` of a few ablations on one profile fits a terminal
    shown = json.loads(sh([dvc(), "exp", "show", "--json"], fresh_repo).stdout)
    revisions = [
        r["data"] for c in shown for e in c.get("experiments") or [] for r in e["revs"] if r.get("data")
    ]
    assert len(revisions) >= 2
    for data in revisions:
        metrics = data["metrics"]["reports/metrics/dcgan3.json"]["data"]
        assert 0 < len(metrics) <= 13 and all(isinstance(v, int | float) for v in metrics.values())
        assert not any(path.endswith(".protocol.json") for path in data["metrics"])
    # metrics hold numbers: no sha256 (or other strings) to diff
    diff = sh([dvc(), "metrics", "diff", "--json", "HEAD"], fresh_repo).stdout
    for path, changes in json.loads(diff).items():
        for key, change in changes.items():
            assert all(isinstance(v, int | float) or v is None for v in change.values()), (path, key)
    # the sample grids as scored are plots, side by side per experiment in `dvc plots diff`
    plots = json.loads(sh([dvc(), "plots", "show", "--json"], fresh_repo).stdout)["data"]
    assert {"reports/eval_grids/dcgan3.png", "reports/eval_grids/cgan1.png"} <= set(plots), sorted(plots)


def test_outlier_filtering_and_oversampling_rerun_from_the_outliers_stage(fresh_repo: Path) -> None:
    extra = ["-S", "outliers.fraction=0.1", "-S", "outliers.epochs=1", "-S", "oversample.balance=true"]
    result = sh([dvc(), "exp", "run", "-S", "data=shapes", "-S", "profile=smoke", *extra], fresh_repo)
    ran = ran_stages(result)
    assert "Running stage 'outliers':" in ran and "Running stage 'trainset':" in ran
    assert "Running stage 'prepare':" not in ran and "Running stage 'featurenet':" not in ran
    counts = json.loads((fresh_repo / "reports/outliers/counts.json").read_text())
    assert counts["dropped_total"] == 500 and counts["kept_total"] == 4500
    trainset = json.loads((fresh_repo / "reports/trainset.json").read_text())
    assert len(set(trainset["trainset"].values())) == 1 and trainset["total"] >= 4500


def test_the_ablation_table_lists_every_experiment_against_the_commit(fresh_repo: Path) -> None:
    sh([sys.executable, "-m", "stages.ablations"], fresh_repo)
    rows = list(csv.DictReader((fresh_repo / "reports/ablations.csv").open()))
    baseline = [r for r in rows if r["condition"] == "(none)"]
    head = subprocess.run(
        ["git", "show", "HEAD:params.yaml"], cwd=fresh_repo, capture_output=True, text=True, check=True
    )
    committed = yaml.safe_load(head.stdout)["families"]
    assert {r["family"] for r in baseline} == set(committed)  # the committed CPU-profile metrics
    experiments = [r for r in rows if r["condition"] != "(none)"]
    assert len({r["condition"] for r in experiments}) == 4  # the four `dvc exp run` above
    assert all("data.name=shapes" in r["condition"] and r["n"] == "1" for r in experiments)
    assert sum("eval.sharpen=1.0" in r["condition"] for r in experiments) == 2  # both families
    assert sum("outliers.fraction=0.1" in r["condition"] for r in experiments) == 2
    # shapes samples against the CIFAR-10 baseline: other protocol, so no ΔFID
    assert all(r["fid"] and not r["delta_fid"] for r in experiments)
    assert "| baseline" in (fresh_repo / "reports/ablations.md").read_text()
