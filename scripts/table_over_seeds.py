"""Every family's scores over several `make table` runs, one per training seed, as one Markdown table.

    python scripts/table_over_seeds.py reports/table/leaderboard.csv \
        reports/table-seed1/leaderboard.csv reports/table-seed2/leaderboard.csv \
        --replace 1:wgan1=reports/table-wgan-g1000/seed1/leaderboard.csv

(docs/table.md has the command behind the README's table.)

The n-th CSV is seed n; `A.csv+B.csv` takes that seed's rows from two runs (a family in both
is an error). `--families A,B` keeps only those rows (every seed must hold them): the best
families of `scripts/gpu_table.py`, which trains only them with the later seeds.
`--replace SEED:FAMILY=METRICS_JSON` puts a family's metrics file from a later run in place of
its row in that seed's table (a family fixed after that table ran, scored at the same budget
and seed); `--replace SEED:FAMILY=LEADERBOARD_CSV` takes the row of another run's
leaderboard.csv. `--extra TAG:CSV` adds the families of other runs (another budget, say) as
rows named `family (TAG)`: the n-th `--extra` of a TAG is seed n. `--versus A B` prints, under
the table, Welch's 95 % interval for row A's mean FID minus row B's, with its verdict. A run
the health check stopped is scored on its last good weights and counts in the mean like any
other seed: the mean is what a user gets, collapses included.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stages.ablations import verdict, welch_interval  # noqa: E402
from stages.report import coverage_status, status  # noqa: E402

COLUMNS = ("fid", "fid_untrained", "kid_mean", "precision", "recall", "status")


def read_seed(path: Path) -> pd.DataFrame:
    table = pd.read_csv(path).set_index("model")
    missing = [column for column in COLUMNS if column not in table.columns]
    if missing:
        raise SystemExit(f"{path}: no column {', '.join(missing)}: not a leaderboard.csv of `make table`")
    if "coverage" in table.columns:  # a run from before the coverage rule called its rows ok by FID alone
        ok = table["status"] == "ok"
        table.loc[ok, "status"] = [coverage_status(value) for value in table.loc[ok, "coverage"]]
    return table.loc[:, list(COLUMNS)]


def read_seed_runs(spec: Path) -> pd.DataFrame:
    """One seed's leaderboard.csv, or several joined with '+'."""
    tables = []
    for part in str(spec).split("+"):
        if not Path(part).is_file():
            raise SystemExit(f"{part}: no such file (run `make table SEED=n` first)")
        tables.append(read_seed(Path(part)))
    joined = pd.concat(tables)
    twice = sorted(set(joined.index[joined.index.duplicated()]))
    if twice:
        raise SystemExit(f"{spec}: {', '.join(twice)} in more than one of its leaderboards")
    return joined


def keep_families(seeds: list[pd.DataFrame], families: list[str]) -> list[pd.DataFrame]:
    for seed, table in enumerate(seeds):
        missing = [family for family in families if family not in table.index]
        if missing:
            raise SystemExit(f"--families: seed {seed} has no row {', '.join(missing)}")
    return [table.loc[families] for table in seeds]


def replace_row(seeds: list[pd.DataFrame], spec: str) -> None:
    try:
        seed_and_family, source = spec.split("=", 1)
        seed_text, family = seed_and_family.split(":", 1)
        seed = int(seed_text)
    except ValueError:
        raise SystemExit(f"--replace {spec}: expected SEED:FAMILY=METRICS_JSON or LEADERBOARD_CSV") from None
    if not 0 <= seed < len(seeds) or family not in seeds[seed].index:
        raise SystemExit(f"--replace {spec}: seed {seed} has no row {family}")
    path = Path(source)
    if not path.is_file():
        raise SystemExit(f"--replace {spec}: {source}: no such file")
    if path.suffix == ".csv":
        rows = read_seed(path)
        if family not in rows.index:
            raise SystemExit(f"--replace {spec}: {source} has no row {family}")
        seeds[seed].loc[family, list(COLUMNS)] = rows.loc[family, list(COLUMNS)]
        return
    metrics = json.loads(path.read_text())
    for column in COLUMNS[:-1]:
        seeds[seed].loc[family, column] = metrics[column]
    seeds[seed].loc[family, "status"] = status({"failed": None, **metrics})


def add_extra_rows(seeds: list[pd.DataFrame], specs: list[str]) -> None:
    runs_by_tag: dict[str, list[Path]] = {}
    for spec in specs:
        tag, sep, path = spec.partition(":")
        if not sep or not tag or not path:
            raise SystemExit(f"--extra {spec}: expected TAG:LEADERBOARD_CSV")
        runs_by_tag.setdefault(tag, []).append(Path(path))
    for tag, paths in runs_by_tag.items():
        if len(paths) != len(seeds):
            raise SystemExit(f"--extra {tag}: {len(paths)} leaderboards for {len(seeds)} seeds")
        for seed, path in enumerate(paths):
            if not path.is_file():
                raise SystemExit(f"--extra {tag}:{path}: no such file")
            rows = read_seed(path)
            rows.index = [f"{family} ({tag})" for family in rows.index]
            seeds[seed] = pd.concat([seeds[seed], rows])


def learned(row: pd.Series) -> bool:
    """The leaderboard's verdict: below its own untrained floor, not stopped by the health
    check, not collapsed."""
    return row["status"] == "ok"


def mean_sd(values: list[float], fmt: str) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{format(statistics.fmean(values), fmt)} ± {format(sd, fmt)}"


def table_over_seeds(seeds: list[pd.DataFrame]) -> str:
    families = list(seeds[-1].index)
    for seed, table in enumerate(seeds):
        if sorted(table.index) != sorted(families):
            last = len(seeds) - 1
            raise SystemExit(f"seed {seed}: families {sorted(table.index)} differ from seed {last}'s")
    rows = []
    for family in families:
        runs = [table.loc[family] for table in seeds]
        fids = [float(run["fid"]) for run in runs]
        rows.append((statistics.fmean(fids), family, runs, fids))
    header = " / ".join(str(seed) for seed in range(len(seeds)))
    lines = [
        f"| model | FID, seeds {header} | FID mean ± sd | untrained mean | KID mean | precision mean "
        f"| recall mean ± sd | status ok |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for _, family, runs, fids in sorted(rows, key=lambda row: row[0]):
        floors, kids, precisions, recalls = (
            [float(run[key]) for run in runs] for key in ("fid_untrained", "kid_mean", "precision", "recall")
        )
        count = sum(learned(run) for run in runs)
        lines.append(
            f"| {family} | {' / '.join(f'{fid:.1f}' for fid in fids)} | {mean_sd(fids, '.1f')} "
            f"| {statistics.fmean(floors):.1f} | {statistics.fmean(kids):.2f} "
            f"| {statistics.fmean(precisions):.3f} | {mean_sd(recalls, '.3f')} | {count} of {len(runs)} |"
        )
    return "\n".join(lines) + "\n"


def versus_line(seeds: list[pd.DataFrame], row: str, baseline: str) -> str:
    for name in (row, baseline):
        if name not in seeds[0].index:
            raise SystemExit(f"--versus {row!r} {baseline!r}: no row {name!r}")
    fids, base = ([float(table.loc[name, "fid"]) for table in seeds] for name in (row, baseline))
    if len(seeds) < 2:
        return f"- {row} minus {baseline}: n < 2, no interval\n"
    low, high = welch_interval(fids, base)
    interval = f"{low:+.1f} to {high:+.1f}"
    return f"- {row} minus {baseline}: mean FID {interval} (Welch 95 %), {verdict((low, high))}\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "leaderboards", nargs="+", type=Path, help="leaderboard.csv of seed 0, 1, ... (A.csv+B.csv: both)"
    )
    parser.add_argument("--replace", action="append", default=[], metavar="SEED:FAMILY=METRICS_JSON|CSV")
    parser.add_argument("--extra", action="append", default=[], metavar="TAG:LEADERBOARD_CSV")
    parser.add_argument("--versus", action="append", nargs=2, default=[], metavar=("ROW", "BASELINE"))
    parser.add_argument("--families", default="", metavar="A,B", help="only these rows")
    args = parser.parse_args(argv)
    seeds = [read_seed_runs(path) for path in args.leaderboards]
    if args.families:
        seeds = keep_families(seeds, args.families.split(","))
    for spec in args.replace:
        replace_row(seeds, spec)
    add_extra_rows(seeds, args.extra)
    sys.stdout.write(table_over_seeds(seeds))
    if args.versus:
        sys.stdout.write("\n" + "".join(versus_line(seeds, row, baseline) for row, baseline in args.versus))


if __name__ == "__main__":
    main()
