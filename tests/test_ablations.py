"""The ablation table from `dvc exp show --json` (the structure DVC 3 writes)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from stages.ablations import ablation_table, main, to_markdown, verdict, welch_interval
from stages.core.errors import UserError
from tests.conftest import REPO

PROTOCOL = {
    "backbone": "featurenet",
    "backbone_weights_sha256": "ab" * 32,
    "backbone_test_accuracy": 0.78,
    "backbone_input_size": 32,
    "backbone_resize": "none (native size)",
    "n_generated": 5000,
    "n_reference": 10000,
    "dataset": "cifar10",
    "reference_split": "train",
    "kid_subsets": 100,
    "kid_subset_size": 1000,
    "seed": 0,
    "postprocess": "none",
}


def data(params: dict, fids: dict[str, float], **protocol: object) -> dict:
    metrics = {
        f"reports/metrics/{family}.json": {
            "data": {
                "fid": fid,
                "kid_mean": fid / 100,
                "train_seconds": 400.0,
                "class_accuracy": None,
                "protocol": {**PROTOCOL, **protocol},
            }
        }
        for family, fid in fids.items()
    }
    metrics["reports/featurenet/cifar10.json"] = {"data": {"test_accuracy": 0.78}}
    return {"params": {"params.yaml": {"data": params}}, "metrics": metrics}


def params(**train: object) -> dict:
    families = train.pop("families", ["dcgan3", "cgan1"])
    return {"families": families, "train": {"lr_schedule": "constant", "cutmix": 0.0, **train}}


def experiment(name: str, exp_data: dict | None, state: str = "success") -> dict:
    rev = {"rev": name * 4, "name": name, "data": exp_data, "error": None, "experiments": None}
    return {"revs": [rev], "executor": {"state": state, "name": None, "local": None}, "name": name}


DCGAN3 = ["dcgan3"]


def show() -> list[dict]:
    baseline = data(params(), {"dcgan3": 10.8, "cgan1": 8.1})
    return [
        {"rev": "workspace", "name": None, "data": baseline, "error": None, "experiments": None},
        {
            "rev": "1234567890abcdef",
            "name": "main",
            "data": baseline,
            "error": None,
            "experiments": [
                # the baseline's other seeds
                experiment("base-s1", data(params(seed=1), {"dcgan3": 11.0, "cgan1": 8.3})),
                experiment("base-s2", data(params(seed=2), {"dcgan3": 10.6, "cgan1": 7.9})),
                # a clear improvement over three seeds
                *(
                    experiment(
                        f"cos-s{s}",
                        data(params(lr_schedule="cosine", seed=s, families=["dcgan3"]), {"dcgan3": f}),
                    )
                    for s, f in ((0, 9.8), (1, 9.7), (2, 9.9))
                ),
                # a noisy one: its mean is lower, its spread covers the baseline
                *(
                    experiment(
                        f"aug-s{s}", data(params(augment=True, seed=s, families=["dcgan3"]), {"dcgan3": f})
                    )
                    for s, f in ((0, 9.0), (1, 12.5), (2, 10.0))
                ),
                experiment("cutmix", data(params(cutmix=0.5), {"dcgan3": 12.0, "cgan1": 7.6})),
                experiment("bigger", data(params(cutmix=0.1), {"dcgan3": 20.0}, n_generated=50000)),
                experiment("waiting", data(params(cutmix=0.2), {}), state="queued"),
            ],
        },
    ]


def rows_by_condition() -> dict[tuple[str, str], object]:
    table, _, _ = ablation_table(show())
    return {(r.condition, r.family): r for r in table.itertuples()}


def test_a_condition_is_one_row_over_its_seeds_with_a_welch_interval_and_a_verdict() -> None:
    rows = rows_by_condition()
    base = rows[("(none)", "dcgan3")]
    assert base.n == 3 and base.fid == pytest.approx(10.8) and base.fid_sd == pytest.approx(0.2)
    assert base.experiments == "baseline base-s1 base-s2" and pd.isna(base.delta_fid)
    cosine = rows[("train.lr_schedule=cosine", "dcgan3")]  # `families` and `train.seed` are no ablation
    assert cosine.n == 3 and cosine.seeds == "0 1 2"
    assert cosine.delta_fid == pytest.approx(-1.0)
    expected = stats.ttest_ind([9.8, 9.7, 9.9], [10.8, 11.0, 10.6], equal_var=False).confidence_interval(0.95)
    assert (cosine.delta_fid_low, cosine.delta_fid_high) == pytest.approx(tuple(expected), abs=1e-4)
    assert cosine.verdict == "better"
    augment = rows[("train.augment=true", "dcgan3")]
    assert augment.delta_fid < 0 and augment.delta_fid_low < 0 < augment.delta_fid_high
    assert augment.verdict == "within noise"
    cutmix = rows[("train.cutmix=0.5", "dcgan3")]  # one seed: a difference, no verdict
    assert cutmix.n == 1 and cutmix.delta_fid == pytest.approx(1.2) and cutmix.verdict == "n < 2"
    assert rows[("train.cutmix=0.5", "cgan1")].delta_fid == pytest.approx(7.6 - 8.1)
    assert ("train.lr_schedule=cosine", "cgan1") not in rows  # those experiments did not train cgan1
    # another sample count: the FID is shown, the difference is not
    bigger = rows[("train.cutmix=0.1", "dcgan3")]
    assert bigger.fid == 20.0 and pd.isna(bigger.delta_fid)
    assert rows[("(queued: no metrics)", "")].n == 0


def test_a_family_the_commit_does_not_train_is_compared_with_its_own_baseline_seeds() -> None:
    # the commit trains sngan (the CPU default); `make ablations-queue FAMILY=dcgan3` queued
    # dcgan3's baseline seeds 0-2 and a condition, each with families=[dcgan3]
    commit = data(params(families=["sngan"]), {"sngan": 250.0})
    runs = [
        experiment(f"base-s{s}", data(params(seed=s, families=DCGAN3), {"dcgan3": f}))
        for s, f in ((0, 320.0), (1, 335.0), (2, 323.0))
    ]
    runs += [
        experiment(f"da-s{s}", data(params(diffaugment="color", seed=s, families=DCGAN3), {"dcgan3": f}))
        for s, f in ((0, 258.0), (1, 250.0), (2, 265.0))
    ]
    show = [{"rev": "abcdef1234567890", "name": "main", "data": commit, "error": None, "experiments": runs}]
    table, protocols, _ = ablation_table(show)
    rows = {(r.condition, r.family): r for r in table.itertuples()}
    assert rows[("(none)", "dcgan3")].n == 3 and rows[("(none)", "sngan")].n == 1
    augmented = rows[("train.diffaugment=color", "dcgan3")]
    assert augmented.delta_fid == pytest.approx((258 + 250 + 265 - 320 - 335 - 323) / 3)
    assert augmented.verdict == "better"
    assert set(protocols) == {"sngan", "dcgan3"}  # the markdown names dcgan3's protocol too


def test_welch_interval_and_verdicts() -> None:
    low, high = welch_interval([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert low < 0 < high and low == pytest.approx(-high)
    assert welch_interval([5.0, 5.0], [3.0, 3.0]) == (2.0, 2.0)  # no spread: the difference itself
    assert verdict((-2.0, -0.5)) == "better" and verdict((0.5, 2.0)) == "worse"
    assert verdict((-1.0, 1.0)) == "within noise" and verdict(None) == "n < 2"


def test_markdown_has_the_protocol_mean_sd_intervals_and_verdicts() -> None:
    table, protocols, rev = ablation_table(show())
    text = to_markdown(table, protocols, rev)
    assert "baseline commit `1234567`" in text
    assert "- dcgan3: Backbone featurenet (weights sha256 abababababab" in text
    assert "10.80 ± 0.20" in text and "| better " in text and "| within noise " in text
    assert "-1.00 [" in text and "+1.20" in text


def test_no_experiments_is_a_clear_error(tmp_path) -> None:  # noqa: ANN001
    entries = show()
    entries[1]["experiments"] = None
    with pytest.raises(UserError, match=r"no experiments found: queue some with `dvc exp run --queue"):
        ablation_table(entries)
    with pytest.raises(UserError, match=r"--rev nope: not among the commits"):
        ablation_table(show(), "nope")


def test_main_writes_markdown_and_csv(tmp_path) -> None:  # noqa: ANN001
    source = tmp_path / "show.json"
    source.write_text(json.dumps(show()))
    main(["--show-json", str(source), "--out", str(tmp_path / "ablations")])
    csv = (tmp_path / "ablations.csv").read_text().splitlines()
    assert csv[0].startswith("condition,family,experiments,seeds,n,fid,fid_sd")
    # baseline and cutmix for two families, cosine, augment, bigger, and the queued one
    assert len(csv) == 1 + 8
    assert (tmp_path / "ablations.md").read_text().startswith("# Ablations")


def test_runs_dir_gives_the_same_table_shape(tmp_path: Path) -> None:
    import yaml

    from stages.ablations import ablation_table, runs_as_exp_show, to_markdown

    def run(name: str, params: dict, fid: float, done: bool = True) -> None:
        folder = tmp_path / name
        (folder / "metrics").mkdir(parents=True)
        (folder / "params.yaml").write_text(yaml.safe_dump(params))
        # the committed default family's protocol, whichever family that is
        committed = sorted((REPO / "reports/metrics").glob("*.protocol.json"))[0]
        protocol = json.loads(committed.read_text())
        (folder / "metrics" / "dcgan3.json").write_text(json.dumps({"fid": fid, "kid_mean": 0.1}))
        (folder / "metrics" / "dcgan3.protocol.json").write_text(json.dumps(protocol))
        if done:
            (folder / "done").touch()

    base = {"families": ["dcgan3"], "train": {"lr_schedule": "constant", "seed": 0}}
    run("baseline", base, 10.0)
    run("cosine", base | {"train": {"lr_schedule": "cosine", "seed": 0}}, 8.5)
    run("halfway", base | {"train": {"lr_schedule": "exp", "seed": 0}}, 1.0, done=False)
    table, protocols, rev = ablation_table(runs_as_exp_show(tmp_path))
    assert list(table["experiments"]) == ["baseline", "cosine"]  # unfinished runs are left out
    assert table.loc[1, "condition"] == "train.lr_schedule=cosine"
    assert table.loc[1, "delta_fid"] == -1.5 and table.loc[1, "verdict"] == "n < 2"
    assert "the run `baseline`" in to_markdown(table, protocols, rev, "test")
    (tmp_path / "baseline" / "done").unlink()
    with pytest.raises(UserError, match="no finished run named baseline"):
        runs_as_exp_show(tmp_path)


def test_protocols_come_from_the_sibling_files_of_each_revision() -> None:
    from stages.ablations import attach_protocols

    shown = json.loads(json.dumps(show()))  # no dict shared between revisions
    stored = {}  # (rev, family) -> the <family>.protocol.json a revision holds
    for commit in shown:
        revisions = [commit] + [r for e in commit.get("experiments") or [] for r in e["revs"]]
        for revision in revisions:
            for path, content in ((revision.get("data") or {}).get("metrics") or {}).items():
                if path.startswith("reports/metrics/"):
                    family = path.removeprefix("reports/metrics/").removesuffix(".json")
                    stored[(revision["rev"], family)] = {"protocol": content["data"].pop("protocol")}
    attached = attach_protocols(shown, lambda rev, family: stored.get((rev, family)))
    rows = {(r.condition, r.family): r for r in ablation_table(attached)[0].itertuples()}
    assert rows[("train.lr_schedule=cosine", "dcgan3")].delta_fid == pytest.approx(-1.0)
    assert pd.isna(rows[("train.cutmix=0.1", "dcgan3")].delta_fid)  # another n_generated, read from the file
