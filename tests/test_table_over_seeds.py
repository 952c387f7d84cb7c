"""scripts/table_over_seeds.py: the all-families table over several `make table` seeds."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REPO, script_module

SCRIPT = REPO / "scripts" / "table_over_seeds.py"
table_over_seeds = script_module("table_over_seeds")


def leaderboard(path: Path, rows: dict[str, tuple[float, float, str]]) -> Path:
    pd.DataFrame(
        [
            {
                "model": model,
                "fid": fid,
                "fid_untrained": floor,
                "kid_mean": 1.0,
                "precision": 0.5,
                "recall": 0.1,
                "status": status,
                "train_seconds": 3.0,
            }
            for model, (fid, floor, status) in rows.items()
        ]
    ).to_csv(path, index=False)
    return path


def run(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)


def test_means_over_seeds_count_collapses_and_take_a_replaced_row(tmp_path):
    collapsed = (600.0, 600.0, "failed at step 500: x")
    seed0 = leaderboard(tmp_path / "s0.csv", {"a": (300.0, 500.0, "ok"), "b": collapsed})
    seed1 = leaderboard(tmp_path / "s1.csv", {"a": (320.0, 510.0, "ok"), "b": (400.0, 610.0, "ok")})
    fixed = tmp_path / "b_seed0.json"
    metrics = {"fid": 450.0, "fid_untrained": 590.0, "kid_mean": 2.0, "precision": 0.4, "recall": 0.2}
    fixed.write_text(json.dumps(metrics))

    plain = run(seed0, seed1)
    assert plain.returncode == 0, plain.stderr
    rows = {line.split(" | ")[0].strip("| "): line for line in plain.stdout.splitlines()[2:]}
    assert list(rows) == ["a", "b"]  # sorted by mean FID: 310 before 500
    assert "300.0 / 320.0 | 310.0 ± 14.1 | 505.0" in rows["a"]
    assert rows["a"].endswith("| 2 of 2 |")
    assert "600.0 / 400.0 | 500.0 ± 141.4" in rows["b"] and rows["b"].endswith("| 1 of 2 |")

    replaced = run(seed0, seed1, "--replace", f"0:b={fixed}")
    assert replaced.returncode == 0, replaced.stderr
    b_row = [line for line in replaced.stdout.splitlines() if line.startswith("| b ")][0]
    assert "450.0 / 400.0 | 425.0 ± 35.4 | 600.0" in b_row and b_row.endswith("| 2 of 2 |")

    # a row of another run's leaderboard.csv, status and all; the other families keep theirs
    later = leaderboard(tmp_path / "later.csv", {"b": (380.0, 560.0, "ok"), "z": (1.0, 2.0, "ok")})
    from_csv = run(seed0, seed1, "--replace", f"0:b={later}")
    assert from_csv.returncode == 0, from_csv.stderr
    rows = {line.split(" | ")[0].strip("| "): line for line in from_csv.stdout.splitlines()[2:]}
    assert list(rows) == ["a", "b"]
    assert "380.0 / 400.0 | 390.0 ± 14.1 | 585.0" in rows["b"] and rows["b"].endswith("| 2 of 2 |")
    assert "300.0 / 320.0 | 310.0 ± 14.1 | 505.0" in rows["a"]


def test_rows_ok_by_fid_alone_are_checked_against_the_coverage_rule(tmp_path):
    """A run from before the coverage rule wrote ok for a texture below its floor; the
    table counts it as the leaderboard now would: collapsed."""
    seeds = []
    for seed, texture_coverage in enumerate((0.003, 0.05)):
        path = leaderboard(tmp_path / f"s{seed}.csv", {"a": (300.0, 500.0, "ok"), "t": (400.0, 600.0, "ok")})
        table = pd.read_csv(path)
        table["coverage"] = [0.2, texture_coverage]
        table.to_csv(path, index=False)
        seeds.append(path)
    assert table_over_seeds.read_seed(seeds[0]).loc["t", "status"] == "collapsed: coverage 0.0030 below 0.01"
    result = run(*seeds)
    assert result.returncode == 0, result.stderr
    rows = {line.split(" | ")[0].strip("| "): line for line in result.stdout.splitlines()[2:]}
    assert rows["a"].endswith("| 2 of 2 |") and rows["t"].endswith("| 1 of 2 |")


def test_extra_rows_join_as_tagged_families_and_versus_gives_welch_interval(tmp_path):
    stuck = "did not learn"
    seed0 = leaderboard(tmp_path / "s0.csv", {"a": (300.0, 500.0, "ok"), "w": (640.0, 630.0, stuck)})
    seed1 = leaderboard(tmp_path / "s1.csv", {"a": (320.0, 510.0, "ok"), "w": (650.0, 640.0, stuck)})
    long0 = leaderboard(tmp_path / "l0.csv", {"w": (400.0, 630.0, "ok")})
    long1 = leaderboard(tmp_path / "l1.csv", {"w": (420.0, 640.0, "ok")})

    result = run(
        seed0,
        seed1,
        "--extra",
        f"long:{long0}",
        "--extra",
        f"long:{long1}",
        "--versus",
        "w (long)",
        "a",
        "--versus",
        "w",
        "a",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    rows = {line.split(" | ")[0].strip("| "): line for line in lines if line.startswith("| ")}
    assert list(rows)[2:] == ["a", "w (long)", "w"]  # sorted by mean FID: 310, 410, 645
    assert "400.0 / 420.0 | 410.0 ± 14.1 | 635.0" in rows["w (long)"]
    assert rows["w (long)"].endswith("| 2 of 2 |")
    assert rows["w"].endswith("| 0 of 2 |")
    # w (long) - a: +100, standard error 14.1 on 2 df (t 4.30); w - a: +335, 11.2 on 1.47 df (t 6.19)
    assert [line for line in lines if line.startswith("- ")] == [
        "- w (long) minus a: mean FID +39.2 to +160.8 (Welch 95 %), worse",
        "- w minus a: mean FID +265.8 to +404.2 (Welch 95 %), worse",
    ]


def test_a_seed_joined_from_two_runs_and_only_the_named_families(tmp_path):
    """scripts/gpu_table.py's layout: seed 0 has every family, later seeds only the best ones,
    and a seed can come from two runs."""
    seed0 = leaderboard(
        tmp_path / "s0.csv", {"a": (100.0, 500.0, "ok"), "b": (200.0, 500.0, "ok"), "c": (9.0, 9.0, "ok")}
    )
    seed1 = leaderboard(tmp_path / "s1.csv", {"a": (110.0, 500.0, "ok"), "b": (220.0, 500.0, "ok")})
    seed2a = leaderboard(tmp_path / "s2a.csv", {"a": (120.0, 500.0, "ok")})
    seed2b = leaderboard(tmp_path / "s2b.csv", {"b": (600.0, 500.0, "did not learn")})
    result = run(seed0, seed1, f"{seed2a}+{seed2b}", "--families", "b,a")
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| a") or line.startswith("| b")]
    assert rows[0].startswith("| a | 100.0 / 110.0 / 120.0 | 110.0 ± 10.0 |")
    assert rows[1].startswith("| b | 200.0 / 220.0 / 600.0 |") and rows[1].endswith("| 2 of 3 |")
    assert "| c " not in result.stdout


def test_bad_inputs_stop_with_one_line_naming_them(tmp_path):
    seed0 = leaderboard(tmp_path / "s0.csv", {"a": (300.0, 500.0, "ok")})
    other = leaderboard(tmp_path / "s1.csv", {"c": (300.0, 500.0, "ok")})
    for args, named in [
        ((tmp_path / "missing.csv",), "missing.csv: no such file"),
        ((seed0, other), "seed 0: families ['a'] differ"),
        ((seed0, "--replace", "3:a=x.json"), "--replace 3:a=x.json: seed 3 has no row a"),
        ((seed0, "--replace", "nonsense"), "--replace nonsense: expected SEED:FAMILY=METRICS_JSON or"),
        ((seed0, "--replace", "0:a=gone.json"), "--replace 0:a=gone.json: gone.json: no such file"),
        ((seed0, "--replace", f"0:a={other}"), f"--replace 0:a={other}: {other} has no row a"),
        ((seed0, "--extra", "nocolon"), "--extra nocolon: expected TAG:LEADERBOARD_CSV"),
        ((seed0, "--extra", "t:gone.csv"), "--extra t:gone.csv: no such file"),
        ((seed0, "--extra", f"t:{seed0}", "--extra", f"t:{seed0}"), "--extra t: 2 leaderboards for 1 seeds"),
        ((seed0, "--versus", "a", "zz"), "--versus 'a' 'zz': no row 'zz'"),
        ((f"{seed0}+{seed0}",), f"{seed0}+{seed0}: a in more than one of its leaderboards"),
        ((seed0, other, "--families", "a"), "--families: seed 1 has no row a"),
    ]:
        # in-process: a SystemExit with a message is what the CLI prints as its one line, exit 1
        with pytest.raises(SystemExit) as stop:
            table_over_seeds.main([str(arg) for arg in args])
        message = str(stop.value.code)
        assert message.splitlines() == [message] and named in message
