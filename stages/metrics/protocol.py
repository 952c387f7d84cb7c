"""The evaluation protocol in words: what a reader needs beside every FID to compare it."""

from __future__ import annotations

from pathlib import Path

from stages.core.io import read_json


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
