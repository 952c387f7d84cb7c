"""Every path the stages read and write, in one place: the same names dvc.yaml lists.

Outputs DVC caches live under data/ and artifacts/; what a person reads (metrics, grids,
loss curves) under reports/, committed to git; resumable state under checkpoints/, outside
DVC's outputs (DVC deletes an output before its stage runs) and removed once a run ends.
"""

from __future__ import annotations

from pathlib import Path

REPORTS = Path("reports")
CHECKPOINTS = Path("checkpoints")
EXTRA_ROOT = Path("data/extra")  # the folder dvc.yaml lists as trainset's dependency


# ---------------------------------------------------------------- datasets
def prepared_dir(dataset: str) -> Path:
    return Path("data/prepared") / dataset


def filtered_dir(dataset: str) -> Path:
    return Path("data/filtered") / dataset


def trainset_dir(dataset: str) -> Path:
    return Path("data/trainset") / dataset


def domains_dir(name: str) -> Path:
    return Path("data/domains") / name


def reference_stats_dir(dataset: str) -> Path:
    return Path("data/reference_stats") / dataset


# ---------------------------------------------------------------- models
def featurenet_path(dataset: str) -> Path:
    return Path("artifacts/featurenet") / f"{dataset}.pt"


def generator_path(family: str) -> Path:
    return Path("artifacts") / family / "generator.pt"


# the evaluation classifier shipped with the project (committed, sha256 pinned in
# stages.metrics.backbones; `make cifar-net` retrains it)
CIFAR_NET_WEIGHTS = Path("stages/metrics/weights/cifar_net.pt")


def cyclegan_path(name: str) -> Path:
    return Path("artifacts/cyclegan") / f"{name}.pt"


# ---------------------------------------------------------------- reports
FEATURENET_REPORTS = REPORTS / "featurenet"
OUTLIER_REPORTS = REPORTS / "outliers"
TRAINSET_REPORT = REPORTS / "trainset.json"
METRICS_DIR = REPORTS / "metrics"
CYCLEGAN_REPORTS = REPORTS / "cyclegan"
STYLE_REPORTS = REPORTS / "style"


def losses_csv(family: str) -> Path:
    return REPORTS / "losses" / f"{family}.csv"


def fid_curve(family: str) -> Path:
    return REPORTS / "fid_curve" / f"{family}.csv"


def train_summary(family: str) -> Path:
    return REPORTS / "train" / family / "summary.json"


def samples_dir(family: str) -> Path:
    return REPORTS / "samples" / family


def metrics_path(family: str) -> Path:
    """The numbers a person compares (a DVC metric): FID, KID, precision/recall, ..."""
    return METRICS_DIR / f"{family}.json"


def protocol_path(family: str) -> Path:
    """Beside metrics_path, not a metric: how the numbers were made (backbone, hashes,
    sample counts) and run facts (architecture, parameter counts, speeds, last losses)."""
    return METRICS_DIR / f"{family}.protocol.json"


def eval_grid(family: str) -> Path:
    return REPORTS / "eval_grids" / f"{family}.png"


# ---------------------------------------------------------------- resumable state
def gan_checkpoint(family: str) -> Path:
    return CHECKPOINTS / family / "last.pt"


def outliers_checkpoint(dataset: str) -> Path:
    return CHECKPOINTS / "outliers" / f"{dataset}.pt"


def cyclegan_checkpoint(name: str) -> Path:
    return CHECKPOINTS / "cyclegan" / f"{name}.pt"


def cyclegan_snapshot_work(name: str) -> Path:
    """Snapshots of a run in progress, kept across a resume, moved to reports/ at the end."""
    return CHECKPOINTS / "cyclegan" / f"{name}-snapshots"
