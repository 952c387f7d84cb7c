"""The cached reference side of FID/KID, as stage `reference_stats` wrote it."""

from __future__ import annotations

from stages.core import paths
from stages.core.io import load_torch, read_json


def load_reference(dataset: str) -> tuple[dict, dict]:
    """(statistics, protocol) of `dataset`'s reference split: the torchmetrics FID state and
    the KID reference features, and the backbone, split and count that produced them."""
    directory = paths.reference_stats_dir(dataset)
    return load_torch(directory / "stats.pt"), read_json(directory / "protocol.json")
