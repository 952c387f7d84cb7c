"""`ladder.rungs=core` (the CPU profile's ladder) scores a subset of the full ladder's rungs,
each exactly as the full ladder scores it. Random images at a tiny scale: this is about
which rungs run and what they get, not about the orders (tests/test_ladder.py)."""

from __future__ import annotations

import dataclasses

import torch

from stages.core.schema import Config, LadderConfig, LadderRungs
from stages.metric_ladder import ladder_scores
from stages.metrics.backbones import load_cifar_net_backbone
from stages.metrics.features import extract_features
from stages.metrics.fid import reference_statistics
from stages.metrics.ladder import CORE_RUNGS, RUNGS

CPU = torch.device("cpu")


def test_the_core_ladder_scores_its_rungs_exactly_as_the_full_one_does() -> None:
    rng = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (260, 3, 32, 32), generator=rng, dtype=torch.uint8)
    labels = torch.arange(260) % 10
    backbone = load_cifar_net_backbone()
    reference = reference_statistics(extract_features(backbone, images[:200].split(100), CPU), 200, 0)
    cfg = Config()
    cfg.eval = dataclasses.replace(cfg.eval, n_samples=40, kid_subset_size=10, kid_subsets=2, batch_size=40)

    def scores(rungs: LadderRungs) -> list[dict]:
        run_cfg = dataclasses.replace(cfg, ladder=LadderConfig(rungs=rungs))
        return ladder_scores(backbone, reference, images[200:], labels[200:], run_cfg, CPU)

    full, core = scores(LadderRungs.full), scores(LadderRungs.core)
    assert [row["rung"] for row in full] == list(RUNGS)
    assert [row["rung"] for row in core] == list(CORE_RUNGS)
    assert core == [row for row in full if row["rung"] in CORE_RUNGS]
