"""Stage `report`: the leaderboard (Markdown and CSV) from every family's metrics.

    python -m stages.report

One table per backbone: FIDs from different feature spaces are never ranked together.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from stages.core import paths
from stages.core.io import write_text
from stages.core.schema import Config
from stages.core.stage import stage_main
from stages.metrics.protocol import protocol_line, read_scores

# metrics key -> (column title, number format); empty cells where a model has no value
COLUMNS = {
    "model": ("Model", ""),
    "status": ("status", ""),
    "arch_family": ("family", ""),
    "params_generator": ("G params", ","),
    "params_discriminator": ("D params", ","),
    "fid": ("FID", ".2f"),
    "kid_mean": ("KID", ".4f"),
    "precision": ("precision", ".3f"),
    "recall": ("recall", ".3f"),
    "class_accuracy": ("class acc", ".3f"),
    "fid_untrained": ("FID untrained", ".2f"),
    "steps": ("G steps", ","),
    "d_loss": ("d_loss", ".3f"),
    "g_loss": ("g_loss", ".3f"),
    "train_seconds": ("train s", ".0f"),
    "train_images_per_second": ("img/s", ".0f"),
}


def _cell(value: object, fmt: str) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return format(value, fmt) if fmt else str(value)


# Below this coverage (Naeem et al.: the share of real images with a generated one among
# their 5 nearest neighbours) the samples are a texture or a few motifs, whatever their FID.
# CIFAR-10 ladder (reports/metric_ladder.md): real 0.814, 4-px colour blobs 0.012, the
# untrained DCGAN 3 0.003.
MIN_COVERAGE = 0.01


def status(row: dict) -> str:
    """ok; failed (the health check stopped training, and why); trained but no better than
    its own untrained generator, which a partial collapse does without failing a check; or
    collapsed (coverage_status)."""
    if row["failed"]:
        return f"failed at {row['failed']}"
    if row["fid"] >= row["fid_untrained"]:
        return "did not learn: FID not below untrained"
    return coverage_status(row.get("coverage"))


def coverage_status(coverage: float | None) -> str:
    """ok, or collapsed: below MIN_COVERAGE a fall in FID is a texture's, not the data's
    (a checkerboard, one motif), and the health check, which stops only near-identical
    samples, lets it through. Metrics without coverage (an older protocol): ok."""
    if coverage is None or pd.isna(coverage) or coverage >= MIN_COVERAGE:
        return "ok"
    return f"collapsed: coverage {coverage:.4f} below {MIN_COVERAGE}"


def leaderboard(cfg: Config, metrics_dir: Path = paths.METRICS_DIR) -> tuple[str, pd.DataFrame]:
    rows = []
    for family in cfg.families:
        metrics, protocol = read_scores(metrics_dir / f"{family}.json")
        row = {"model": family, **metrics, "backbone": protocol["backbone"], "_protocol": protocol}
        if "failed" in row:  # metrics from before the health checks have no status
            row["status"] = status(row)
        rows.append(row)
    table = pd.DataFrame(rows).sort_values(["backbone", "fid"], kind="stable")
    for key in COLUMNS:  # metrics of an older protocol lack the newer columns: empty cells
        if key not in table:
            table[key] = None
    parts = [
        "# Leaderboard",
        "",
        f"Dataset `{cfg.data.name}`, profile `{cfg.profile}`. Lower FID/KID is better.",
        "",
    ]
    for backbone, group in table.groupby("backbone", sort=True):
        parts += [f"## Backbone: {backbone}", "", protocol_line(group["_protocol"].iloc[0]), ""]
        shown = pd.DataFrame(
            {title: [_cell(v, fmt) for v in group[key]] for key, (title, fmt) in COLUMNS.items()}
        )
        parts.append(
            shown.to_markdown(
                index=False,
                disable_numparse=True,
                colalign=[("left" if not fmt else "right") for _, fmt in COLUMNS.values()],
            )
        )
        parts.append("")
    parts += [
        "class acc: share of a conditional model's samples that the evaluation classifier "
        "assigns to the class they were generated for (chance is 1 / classes).",
        "",
    ]
    parts += ["## Samples", ""]
    parts += [
        f"- {family}: ![{family}](samples/{family}/grid.png) (10 more grids of 100 in samples/{family}/)"
        for family in cfg.families
    ]
    csv = table.drop(columns=["_protocol"])
    return "\n".join(parts) + "\n", csv


def run(cfg: Config) -> None:
    markdown, csv = leaderboard(cfg)
    write_text(paths.REPORTS / "leaderboard.md", markdown)
    write_text(paths.REPORTS / "leaderboard.csv", csv.to_csv(index=False, lineterminator="\n"))
    print(markdown)


if __name__ == "__main__":
    stage_main(run)
