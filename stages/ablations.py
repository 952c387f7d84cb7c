"""The ablation table: every experiment of a baseline commit against that baseline.

    python -m stages.ablations [--rev REV] [--show-json FILE]     (or `make ablations`)
    python -m stages.ablations --runs-dir RUNS --out reports/ablations-gpu

Reads `dvc exp show --json` (the same numbers `dvc exp show` and `dvc metrics diff`
print), takes the newest commit that has finished experiments (or --rev) as the
baseline, and writes reports/ablations.md and reports/ablations.csv: one row per
experiment and family with the params that differ from the baseline, FID, KID, ΔFID
against the baseline's FID of the same family, class accuracy and training seconds.
ΔFID is left empty where the evaluation protocol differs (backbone weights, sample or
reference counts), because such FIDs do not compare.
--runs-dir reads the same from scripts/ablations_without_dvc.sh's folders instead (for a
machine without DVC): RUNS/<name>/params.yaml and RUNS/<name>/metrics/<family>.json, with
RUNS/baseline as the baseline.
Not a DVC stage: it reads experiments, which live outside any one commit's workspace.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import pandas as pd

from stages.core.errors import UserError, run_main
from stages.core.io import write_text
from stages.metrics.protocol import protocol_line

METRICS_PREFIX = "reports/metrics/"
# protocol keys that must match for two FIDs to compare (postprocess may differ: it is an ablation)
COMPARABLE = ("backbone_weights_sha256", "n_generated", "n_reference", "reference_split", "dataset")
# params that say which families run, not how: shown as the row's family instead
NOT_AN_ABLATION = ("families",)


def flatten(values: dict, prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _params(data: dict) -> dict[str, object]:
    return flatten((data.get("params") or {}).get("params.yaml", {}).get("data", {}))


def _family_metrics(data: dict) -> dict[str, dict]:
    out = {}
    for path, content in (data.get("metrics") or {}).items():
        if path.startswith(METRICS_PREFIX) and path.endswith(".json") and content.get("data"):
            out[path[len(METRICS_PREFIX) : -len(".json")]] = content["data"]
    return out


def pick_baseline(show: list[dict], rev: str | None) -> dict:
    """The commit entry of `dvc exp show --json` to compare against."""
    commits = [c for c in show if c.get("rev") != "workspace"]
    if rev:
        for commit in commits:
            if commit["rev"].startswith(rev) or commit.get("name") == rev:
                return commit
        raise UserError(f"--rev {rev}: not among the commits `dvc exp show` lists")
    for commit in commits:
        if commit.get("experiments"):
            return commit
    raise UserError(
        "no experiments found: queue some with `dvc exp run --queue -S ...`, then `dvc queue start`"
    )


def experiments_of(commit: dict) -> list[tuple[str, str, dict | None]]:
    """(name, state, data) of each experiment of a commit; data is None unless it finished."""
    found = []
    for exp in commit.get("experiments") or []:
        for rev in exp.get("revs") or []:
            name = rev.get("name") or exp.get("name") or rev["rev"][:7]
            state = "failed" if rev.get("error") else (exp.get("executor") or {}).get("state") or "success"
            found.append((name, state, rev.get("data") if state == "success" else None))
    return sorted(found, key=lambda item: item[0])


def _format_value(value: object) -> str:
    return json.dumps(value) if isinstance(value, list | bool) or value is None else str(value)


def changes(params: dict, baseline: dict) -> str:
    keys = sorted(set(params) | set(baseline))
    return ", ".join(
        f"{key}={_format_value(params.get(key))}"
        for key in keys
        if params.get(key) != baseline.get(key) and key not in NOT_AN_ABLATION
    )


def comparable(protocol: dict, reference: dict) -> bool:
    return all(protocol.get(key) == reference.get(key) for key in COMPARABLE)


def ablation_table(show: list[dict], rev: str | None = None) -> tuple[pd.DataFrame, dict, str]:
    """Rows of (experiment, family); returns (table, the baseline's protocols, baseline rev)."""
    baseline = pick_baseline(show, rev)
    base_data = baseline.get("data") or {}
    base_params, base_metrics = _params(base_data), _family_metrics(base_data)
    rows = []
    entries = [("baseline", "success", base_data)] + experiments_of(baseline)
    for name, state, data in entries:
        if data is None:
            rows.append({"experiment": name, "family": "", "changes": f"({state}: no metrics)"})
            continue
        params = _params(data)
        for family, metrics in sorted(_family_metrics(data).items()):
            if family not in (params.get("families") or []):
                continue  # a metrics file left from another family list
            base = base_metrics.get(family)
            same = base is not None and comparable(metrics.get("protocol", {}), base.get("protocol", {}))
            rows.append(
                {
                    "experiment": name,
                    "family": family,
                    "changes": changes(params, base_params) or "(none)",
                    "fid": metrics.get("fid"),
                    "delta_fid": round(metrics["fid"] - base["fid"], 4) if same else None,
                    "kid_mean": metrics.get("kid_mean"),
                    "class_accuracy": metrics.get("class_accuracy"),
                    "train_seconds": metrics.get("train_seconds"),
                    "postprocess": metrics.get("protocol", {}).get("postprocess", "none"),
                }
            )
    table = pd.DataFrame(rows)
    if "fid" in table:  # by family, then FID; experiments without metrics last
        table = table.assign(_pending=table["family"] == "")
        table = table.sort_values(["_pending", "family", "fid"], kind="stable", na_position="last")
        table = table.drop(columns="_pending")
    protocols = {family: m["protocol"] for family, m in base_metrics.items() if "protocol" in m}
    return table.reset_index(drop=True), protocols, baseline["rev"]


COLUMNS = {  # csv column -> (markdown title, format)
    "experiment": ("Experiment", ""),
    "family": ("Family", ""),
    "changes": ("Changed params (vs baseline)", ""),
    "fid": ("FID", ".2f"),
    "delta_fid": ("ΔFID", "+.2f"),
    "kid_mean": ("KID", ".4f"),
    "class_accuracy": ("class acc", ".3f"),
    "train_seconds": ("train s", ".0f"),
}


RUNS_BASELINE = "baseline"  # the baseline's rev when read from --runs-dir


def short(rev: str) -> str:
    return rev if rev == RUNS_BASELINE else rev[:7]


def baseline_name(rev: str) -> str:
    return f"the run `{rev}`" if rev == RUNS_BASELINE else f"baseline commit `{rev[:7]}`"


def to_markdown(
    table: pd.DataFrame,
    protocols: dict,
    rev: str,
    source: str = "`make ablations` from `dvc exp show --json`",
) -> str:
    def cell(value: object, fmt: str) -> str:
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return ""
        return format(value, fmt) if fmt else str(value)

    parts = [
        "# Ablations",
        "",
        f"Each experiment of {baseline_name(rev)} against that baseline (lower FID/KID is "
        f"better; ΔFID < 0 is an improvement). Written by {source}.",
        "",
    ]
    for family, protocol in sorted(protocols.items()):
        parts += [f"- {family}: {protocol_line(protocol)}"]
    parts.append("")
    present = [key for key in COLUMNS if key in table]
    shown = pd.DataFrame({COLUMNS[k][0]: [cell(v, COLUMNS[k][1]) for v in table[k]] for k in present})
    parts.append(shown.to_markdown(index=False, disable_numparse=True))
    parts += [
        "",
        "ΔFID is empty where the protocol differs from the baseline's (other backbone weights, "
        "sample or reference counts): those FIDs do not compare.",
        "",
    ]
    return "\n".join(parts)


def exp_show_json() -> list[dict]:
    result = subprocess.run(
        ["dvc", "exp", "show", "--json", "--num", "20"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise UserError(f"`dvc exp show --json` failed: {result.stderr.strip().splitlines()[-1:]}")
    return json.loads(result.stdout)


def runs_as_exp_show(runs_dir: Path) -> list[dict]:
    """scripts/ablations_without_dvc.sh's run folders in the shape of `dvc exp show --json`."""
    import yaml

    def run_data(run: Path) -> dict:
        return {
            "params": {"params.yaml": {"data": yaml.safe_load((run / "params.yaml").read_text())}},
            "metrics": {
                f"{METRICS_PREFIX}{path.name}": {"data": json.loads(path.read_text())}
                for path in sorted((run / "metrics").glob("*.json"))
            },
        }

    finished = sorted(run for run in runs_dir.glob("*") if (run / "done").is_file())
    if runs_dir / "baseline" not in finished:
        raise UserError(f"--runs-dir {runs_dir}: no finished run named baseline (with a `done` file)")
    experiments = [
        {"name": run.name, "revs": [{"rev": run.name, "name": run.name, "data": run_data(run)}]}
        for run in finished
        if run.name != "baseline"
    ]
    baseline = {"rev": RUNS_BASELINE, "data": run_data(runs_dir / "baseline")}
    return [baseline | {"experiments": experiments}]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default=None, help="baseline commit (default: newest with experiments)")
    parser.add_argument("--show-json", default=None, help="read this `dvc exp show --json` output instead")
    parser.add_argument("--runs-dir", default=None, help="read scripts/ablations_without_dvc.sh's runs")
    parser.add_argument("--out", default="reports/ablations", help="writes OUT.md and OUT.csv")
    args = parser.parse_args(argv)
    source = "`make ablations` from `dvc exp show --json`"
    if args.runs_dir:
        show = runs_as_exp_show(Path(args.runs_dir))
        source = f"`python -m stages.ablations --runs-dir {args.runs_dir}` (scripts/ablations_without_dvc.sh)"
    else:
        show = json.loads(Path(args.show_json).read_text()) if args.show_json else exp_show_json()
    table, protocols, rev = ablation_table(show, args.rev)
    write_text(f"{args.out}.md", to_markdown(table, protocols, rev, source))
    write_text(f"{args.out}.csv", table.to_csv(index=False, lineterminator="\n"))
    print(f"wrote {args.out}.md and {args.out}.csv: {len(table)} rows against {short(rev)}")


if __name__ == "__main__":
    run_main(main)
