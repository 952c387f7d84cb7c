"""The evaluation protocol in words: what a reader needs beside every FID to compare it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stages.core.io import read_json
from stages.core.schema import EvalConfig


def scoring_protocol(ref_protocol: dict, backbone_info: Any, n_generated: int, cfg: EvalConfig) -> dict:
    """What every FID of generated (or degraded) images against the reference depends on:
    the reference's protocol, the backbone that made the features, the sample count and
    the KID subsets. Callers add what is theirs (post-processing, classifier, ...)."""
    return {
        **{k: v for k, v in ref_protocol.items() if k != "backbone"},
        "backbone": backbone_info.name,
        "backbone_weights_sha256": backbone_info.weights_sha256,
        "backbone_input_size": backbone_info.input_size,
        "backbone_resize": backbone_info.resize,
        "backbone_test_accuracy": backbone_info.test_accuracy,
        "n_generated": n_generated,
        # as scored: feature_scores shrinks subsets to the smaller side
        "kid_subset_size": min(
            cfg.kid_subset_size, n_generated, ref_protocol.get("n_kid_reference", n_generated)
        ),
        "kid_subsets": cfg.kid_subsets,
        "seed": cfg.seed,
    }


def read_scores(metrics_file: Path) -> tuple[dict, dict]:
    """(numbers, protocol) of one evaluated family: its metrics JSON with the run facts of
    the sibling <family>.protocol.json merged in, and that file's protocol. Metrics written
    before the split carry their protocol inline; both read the same."""
    metrics = read_json(metrics_file)
    if "protocol" in metrics:
        return {k: v for k, v in metrics.items() if k != "protocol"}, metrics["protocol"]
    sibling = read_json(metrics_file.with_suffix(".protocol.json"))
    return {**sibling["run"], **metrics}, sibling["protocol"]


def protocol_line(protocol: dict) -> str:
    accuracy = protocol.get("backbone_test_accuracy")
    return (
        f"Backbone {protocol['backbone']} (weights sha256 {protocol['backbone_weights_sha256'][:12]}…"
        f"{f', test accuracy {accuracy:.4f}' if accuracy is not None else ''}, "
        f"input {protocol['backbone_input_size']} px, resize: {protocol['backbone_resize']}); "
        f"{protocol['n_generated']} generated vs {protocol['n_reference']} {protocol['dataset']} "
        f"{protocol['reference_split']} images; KID {protocol['kid_subsets']} subsets of "
        f"{protocol['kid_subset_size']}; seed {protocol['seed']}"
        f"{'' if protocol.get('postprocess', 'none') == 'none' else '; samples ' + protocol['postprocess']}."
    )
