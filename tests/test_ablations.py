"""The ablation table from `dvc exp show --json` (the structure DVC 3 writes)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from stages.ablations import ablation_table, main, to_markdown
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
                experiment(
                    "cosine", data(params(lr_schedule="cosine", families=["dcgan3"]), {"dcgan3": 9.8})
                ),
                experiment("cutmix", data(params(cutmix=0.5), {"dcgan3": 12.0, "cgan1": 7.6})),
                experiment("bigger", data(params(), {"dcgan3": 20.0}, n_generated=50000)),
                experiment("waiting", data(params(cutmix=0.2), {}), state="queued"),
            ],
        },
    ]


def test_rows_carry_the_changed_params_and_the_fid_change_per_family() -> None:
    table, protocols, rev = ablation_table(show())
    assert rev == "1234567890abcdef" and set(protocols) == {"dcgan3", "cgan1"}
    rows = {(r.experiment, r.family): r for r in table.itertuples()}
    assert rows[("cosine", "dcgan3")].changes == "train.lr_schedule=cosine"  # families is not an ablation
    assert rows[("cosine", "dcgan3")].delta_fid == pytest.approx(-1.0)
    assert rows[("cutmix", "cgan1")].delta_fid == pytest.approx(-0.5)
    assert rows[("cutmix", "dcgan3")].delta_fid == pytest.approx(1.2)
    assert rows[("baseline", "dcgan3")].changes == "(none)" and rows[("baseline", "dcgan3")].delta_fid == 0
    assert ("cosine", "cgan1") not in rows  # that experiment did not train cgan1
    # another sample count: the FID is shown, the difference is not
    assert rows[("bigger", "dcgan3")].fid == 20.0 and pd.isna(rows[("bigger", "dcgan3")].delta_fid)
    assert rows[("waiting", "")].changes == "(queued: no metrics)"
    # sorted by family, then FID
    dcgan3 = table[table.family == "dcgan3"].experiment.tolist()
    assert dcgan3 == ["cosine", "baseline", "cutmix", "bigger"]


def test_markdown_has_the_protocol_and_signed_deltas() -> None:
    table, protocols, rev = ablation_table(show())
    text = to_markdown(table, protocols, rev)
    assert "baseline commit `1234567`" in text
    assert "- dcgan3: Backbone featurenet (weights sha256 abababababab" in text
    assert "| cosine" in text and "-1.00" in text and "+1.20" in text


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
    assert csv[0].startswith("experiment,family,changes,fid,delta_fid,kid_mean")
    assert len(csv) == 1 + 7  # 2 baseline + 1 cosine + 2 cutmix + 1 bigger + 1 queued
    assert (tmp_path / "ablations.md").read_text().startswith("# Ablations")


def test_runs_dir_gives_the_same_table_shape(tmp_path: Path) -> None:
    import yaml

    from stages.ablations import ablation_table, runs_as_exp_show, to_markdown

    def run(name: str, params: dict, fid: float, done: bool = True) -> None:
        folder = tmp_path / name
        (folder / "metrics").mkdir(parents=True)
        (folder / "params.yaml").write_text(yaml.safe_dump(params))
        protocol = json.loads((REPO / "reports/metrics/dcgan3.json").read_text())["protocol"]
        metrics = {"fid": fid, "kid_mean": 0.1, "protocol": protocol}
        (folder / "metrics" / "dcgan3.json").write_text(json.dumps(metrics))
        if done:
            (folder / "done").touch()

    base = {"families": ["dcgan3"], "train": {"lr_schedule": "constant", "seed": 0}}
    run("baseline", base, 10.0)
    run("cosine", base | {"train": {"lr_schedule": "cosine", "seed": 0}}, 8.5)
    run("halfway", base | {"train": {"lr_schedule": "exp", "seed": 0}}, 1.0, done=False)
    table, protocols, rev = ablation_table(runs_as_exp_show(tmp_path))
    assert list(table["experiment"]) == ["cosine", "baseline"]  # unfinished runs are left out
    assert table.loc[0, "changes"] == "train.lr_schedule=cosine"
    assert table.loc[0, "delta_fid"] == -1.5
    assert "the run `baseline`" in to_markdown(table, protocols, rev, "test")
    (tmp_path / "baseline" / "done").unlink()
    with pytest.raises(UserError, match="no finished run named baseline"):
        runs_as_exp_show(tmp_path)
