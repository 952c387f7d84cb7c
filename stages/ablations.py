"""The ablation table: every experiment of a baseline commit against that baseline.

    python -m stages.ablations [--rev REV] [--show-json FILE]     (or `make ablations`)
    python -m stages.ablations --runs-dir RUNS --out reports/ablations-gpu

Reads `dvc exp show --json` (the same numbers `dvc exp show` and `dvc metrics diff`
print), takes the newest commit that has finished experiments (or --rev) as the
baseline, and writes reports/ablations.md and reports/ablations.csv: one row per
condition (the params that differ from the baseline, `train.seed` aside) and family, over
all the seeds it ran with: n, FID mean ± sd, ΔFID against the baseline's mean with a 95 %
Welch interval and a verdict (better / worse / within noise; "n < 2" when either side
has a single seed), KID, precision, recall, class accuracy and training seconds. The
baseline's own seeds are the commit and its experiments that change only `train.seed`
(`make ablations-queue SEEDS=3` queues them). Runs whose evaluation protocol differs
from the baseline's (backbone weights, sample or reference counts) get no Δ: such FIDs
do not compare.
--runs-dir reads the same from scripts/ablations_without_dvc.sh's folders instead (for a
machine without DVC): RUNS/<name>/params.yaml and RUNS/<name>/metrics/<family>.json, with
RUNS/baseline as the baseline.
Not a DVC stage: it reads experiments, which live outside any one commit's workspace.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from stages.core.errors import UserError, run_main
from stages.core.io import write_text
from stages.metrics.protocol import protocol_line

METRICS_PREFIX = "reports/metrics/"
# protocol keys that must match for two FIDs to compare (postprocess may differ: it is an ablation)
COMPARABLE = ("backbone_weights_sha256", "n_generated", "n_reference", "reference_split", "dataset")
# params that say which families run, not how: shown as the row's family instead
NOT_AN_ABLATION = ("families",)
SEED_KEY = "train.seed"  # runs that differ only in it are one condition, seen over seeds
DELTA_COLUMNS = ("delta_fid", "delta_fid_low", "delta_fid_high", "verdict")
# per-run metrics averaged over a condition's seeds (with their sd)
AVERAGED = ("fid", "kid_mean", "precision", "recall", "class_accuracy", "train_seconds")


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


def attach_protocols(show: list[dict], read: Callable[[str, str], dict | None]) -> list[dict]:
    """Put each family's protocol into its metrics, as metrics written before the protocol
    moved to <family>.protocol.json (not a DVC metric, so not in `dvc exp show`) held it.
    `read(rev, family)` gives that file's content at a revision, or None."""
    revisions = []
    for commit in show:
        revisions.append(commit)
        revisions += [rev for exp in commit.get("experiments") or [] for rev in exp.get("revs") or []]
    for revision in revisions:
        for family, metrics in _family_metrics(revision.get("data") or {}).items():
            if "protocol" not in metrics and revision.get("rev") not in (None, "workspace"):
                sibling = read(revision["rev"], family)
                if sibling is not None:
                    metrics["protocol"] = sibling["protocol"]
    return show


def protocol_at(rev: str, family: str) -> dict | None:
    """reports/metrics/<family>.protocol.json as committed at `rev` (an experiment is a commit)."""
    result = subprocess.run(
        ["git", "show", f"{rev}:{METRICS_PREFIX}{family}.protocol.json"],
        capture_output=True,
        text=True,
        check=False,
    )
    return json.loads(result.stdout) if result.returncode == 0 else None


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


def changes(params: dict, baseline: dict, ignore: tuple[str, ...] = ()) -> str:
    keys = sorted(set(params) | set(baseline))
    return ", ".join(
        f"{key}={_format_value(params.get(key))}"
        for key in keys
        if params.get(key) != baseline.get(key) and key not in NOT_AN_ABLATION + ignore
    )


def comparable(protocol: dict, reference: dict) -> bool:
    return all(protocol.get(key) == reference.get(key) for key in COMPARABLE)


def ablation_runs(show: list[dict], rev: str | None = None) -> tuple[list[dict], dict, str]:
    """One record per finished (experiment, family) and one per unfinished experiment; returns
    (runs, the baseline's protocols, baseline rev)."""
    baseline = pick_baseline(show, rev)
    base_data = baseline.get("data") or {}
    base_params, base_metrics = _params(base_data), _family_metrics(base_data)
    # the commit's protocol does not depend on the family, so a family the commit does not
    # train (FAMILY= another one, its baseline seeds queued as experiments) matches any of them
    commit_metrics = next(iter(base_metrics.values()), None)
    runs = []
    entries = [("baseline", "success", base_data)] + experiments_of(baseline)
    for name, state, data in entries:
        if data is None:
            runs.append({"experiment": name, "family": "", "changes": f"({state}: no metrics)"})
            continue
        params = _params(data)
        for family, metrics in sorted(_family_metrics(data).items()):
            if family not in (params.get("families") or []):
                continue  # a metrics file left from another family list
            base = base_metrics.get(family) or commit_metrics
            same = base is not None and comparable(metrics.get("protocol", {}), base.get("protocol", {}))
            runs.append(
                {
                    "experiment": name,
                    "family": family,
                    "changes": changes(params, base_params, ignore=(SEED_KEY,)) or "(none)",
                    "seed": params.get(SEED_KEY),
                    "comparable": same,
                    **{key: metrics.get(key) for key in AVERAGED},
                }
            )
    protocols = {family: m["protocol"] for family, m in base_metrics.items() if "protocol" in m}
    if commit_metrics and "protocol" in commit_metrics:
        for family in {run["family"] for run in runs if run["family"]} - set(protocols):
            protocols[family] = commit_metrics["protocol"]
    return runs, protocols, baseline["rev"]


def welch_interval(values: list[float], baseline: list[float], level: float = 0.95) -> tuple[float, float]:
    """Interval for mean(values) - mean(baseline) by Welch's t (unequal variances)."""
    a, b = np.asarray(values, dtype=float), np.asarray(baseline, dtype=float)
    diff = a.mean() - b.mean()
    var_a, var_b = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(var_a + var_b)
    if se == 0:
        return diff, diff
    df = (var_a + var_b) ** 2 / (var_a**2 / (len(a) - 1) + var_b**2 / (len(b) - 1))
    half = float(stats.t.ppf(0.5 + level / 2, df)) * se
    return diff - half, diff + half


def verdict(interval: tuple[float, float] | None, lower_is_better: bool = True) -> str:
    if interval is None:
        return "n < 2"
    low, high = interval
    if low <= 0 <= high:
        return "within noise"
    return "better" if (high < 0) == lower_is_better else "worse"


def ablation_table(show: list[dict], rev: str | None = None) -> tuple[pd.DataFrame, dict, str]:
    """One row per (condition, family) over its seeds; returns (table, protocols, baseline rev)."""
    runs, protocols, base_rev = ablation_runs(show, rev)
    finished = [r for r in runs if r["family"]]
    baseline_fids = {
        family: [r["fid"] for r in finished if r["family"] == family and r["changes"] == "(none)"]
        for family in {r["family"] for r in finished}
    }
    rows = []
    groups: dict[tuple[str, str], list[dict]] = {}
    for run in finished:
        groups.setdefault((run["changes"], run["family"]), []).append(run)
    for (condition, family), members in groups.items():
        fids = [m["fid"] for m in members]
        row = {
            "condition": condition,
            "family": family,
            "experiments": " ".join(m["experiment"] for m in members),
            "seeds": " ".join(str(m["seed"]) for m in members),
            "n": len(members),
        }
        for key in AVERAGED:
            values = [m[key] for m in members if m.get(key) is not None]
            row[key] = round(float(np.mean(values)), 6) if values else None
            row[f"{key}_sd"] = round(float(np.std(values, ddof=1)), 6) if len(values) > 1 else None
        base = baseline_fids.get(family, [])
        if condition != "(none)" and base and all(m["comparable"] for m in members):
            enough = len(fids) > 1 and len(base) > 1
            interval = welch_interval(fids, base) if enough else None
            row["delta_fid"] = round(float(np.mean(fids) - np.mean(base)), 4)
            row["delta_fid_low"] = round(interval[0], 4) if interval else None
            row["delta_fid_high"] = round(interval[1], 4) if interval else None
            row["verdict"] = verdict(interval)
        rows.append(row)
    rows += [
        {"condition": r["changes"], "family": "", "experiments": r["experiment"], "n": 0}
        for r in runs
        if not r["family"]
    ]
    table = pd.DataFrame(rows)
    for column in DELTA_COLUMNS:  # present even when no row has a comparable baseline
        if column not in table:
            table[column] = None
    if "fid" in table:  # by family, the baseline first, then by mean FID; unfinished last
        table = table.assign(_pending=table["family"] == "", _base=table["condition"] != "(none)")
        table = table.sort_values(["_pending", "family", "_base", "fid"], kind="stable", na_position="last")
        table = table.drop(columns=["_pending", "_base"])
    return table.reset_index(drop=True), protocols, base_rev


def _number(value: object, fmt: str) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return format(value, fmt)


def _mean_sd(row: pd.Series, key: str, fmt: str) -> str:
    sd = row.get(f"{key}_sd")
    mean = _number(row.get(key), fmt)
    return f"{mean} ± {_number(sd, fmt)}" if mean and sd is not None and not pd.isna(sd) else mean


def _delta(row: pd.Series) -> str:
    delta = _number(row.get("delta_fid"), "+.2f")
    low, high = row.get("delta_fid_low"), row.get("delta_fid_high")
    if delta and low is not None and not pd.isna(low):
        return f"{delta} [{low:+.2f}, {high:+.2f}]"
    return delta


# markdown title -> cell of a table row
MARKDOWN_COLUMNS = {
    "Family": lambda r: r.get("family") or "",
    "Changed params (vs baseline)": lambda r: r.get("condition") or "",
    "n": lambda r: str(int(r["n"])) if r.get("n") else "",
    "FID (mean ± sd)": lambda r: _mean_sd(r, "fid", ".2f"),
    "ΔFID [95 % CI]": _delta,
    "verdict": lambda r: r.get("verdict") if isinstance(r.get("verdict"), str) else "",
    "KID": lambda r: _number(r.get("kid_mean"), ".4f"),
    "precision": lambda r: _mean_sd(r, "precision", ".3f"),
    "recall": lambda r: _mean_sd(r, "recall", ".3f"),
    "class acc": lambda r: _number(r.get("class_accuracy"), ".3f"),
    "train s": lambda r: _number(r.get("train_seconds"), ".0f"),
    "experiments": lambda r: r.get("experiments") or "",
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
    parts = [
        "# Ablations",
        "",
        f"Each condition of {baseline_name(rev)} against that baseline, over the seeds it ran "
        f"with (lower FID/KID is better; ΔFID < 0 is an improvement). Written by {source}.",
        "",
    ]
    for family, protocol in sorted(protocols.items()):
        parts += [f"- {family}: {protocol_line(protocol)}"]
    parts.append("")
    shown = pd.DataFrame(
        {title: [cell(row) for _, row in table.iterrows()] for title, cell in MARKDOWN_COLUMNS.items()}
    )
    parts.append(shown.to_markdown(index=False, disable_numparse=True))
    parts += [
        "",
        "ΔFID: the condition's mean FID minus the baseline's, with a 95 % Welch interval over "
        "seeds; the verdict is `better` or `worse` only when that interval excludes 0. The "
        "baseline's seeds are the commit and its experiments that change only `train.seed`. "
        "No Δ where the protocol differs from the baseline's (other backbone weights, sample "
        "or reference counts): those FIDs do not compare.",
        "",
    ]
    return "\n".join(parts)


def exp_show_json() -> list[dict]:
    result = subprocess.run(
        ["dvc", "exp", "show", "--json", "--num", "20"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise UserError(f"`dvc exp show --json` failed: {result.stderr.strip().splitlines()[-1:]}")
    return attach_protocols(json.loads(result.stdout), protocol_at)


def runs_as_exp_show(runs_dir: Path) -> list[dict]:
    """scripts/ablations_without_dvc.sh's run folders in the shape of `dvc exp show --json`."""
    import yaml

    def run_data(run: Path) -> dict:
        return {
            "params": {"params.yaml": {"data": yaml.safe_load((run / "params.yaml").read_text())}},
            "metrics": {
                f"{METRICS_PREFIX}{path.name}": {"data": json.loads(path.read_text())}
                for path in sorted((run / "metrics").glob("*.json"))
                if not path.name.endswith(".protocol.json")
            },
        }

    def read_protocol(rev: str, family: str) -> dict | None:
        path = runs_dir / rev / "metrics" / f"{family}.protocol.json"
        return json.loads(path.read_text()) if path.is_file() else None

    finished = sorted(run for run in runs_dir.glob("*") if (run / "done").is_file())
    if runs_dir / "baseline" not in finished:
        raise UserError(f"--runs-dir {runs_dir}: no finished run named baseline (with a `done` file)")
    experiments = [
        {"name": run.name, "revs": [{"rev": run.name, "name": run.name, "data": run_data(run)}]}
        for run in finished
        if run.name != "baseline"
    ]
    baseline = {"rev": RUNS_BASELINE, "data": run_data(runs_dir / "baseline")}
    return attach_protocols([baseline | {"experiments": experiments}], read_protocol)


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
