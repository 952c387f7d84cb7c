"""scripts/gpu_table.py: the step count its time budget allows, the same for every family."""

import json

import pytest

from stages.core.errors import UserError
from stages.core.schema import compose, validate
from tests.conftest import script_module

gpu_table = script_module("gpu_table")


def probes(*seconds_per_step: float, overhead: float = 1.0) -> dict:
    return {f"f{i}": gpu_table.Probe(s, overhead, True) for i, s in enumerate(seconds_per_step)}


def test_every_family_once_and_the_slowest_again_fit_in_the_budget() -> None:
    found = probes(0.001, 0.002, 0.010)
    budget = 200.0
    steps = gpu_table.choose_steps(found, budget, seeds=3, top=1, cap=30000)
    assert steps % gpu_table.STEP_QUANTUM == 0
    runs = [0.001, 0.002, 0.010, 0.010, 0.010]  # the slowest family twice more

    def cost(n: int) -> float:
        return sum(s * n + 1.0 + gpu_table.EVAL_SECONDS_GUESS for s in runs)

    assert cost(steps) <= budget < cost(steps + gpu_table.STEP_QUANTUM)


def test_the_step_count_stops_at_the_profile_s_steps() -> None:
    assert gpu_table.choose_steps(probes(1e-5), 1e6, seeds=3, top=3, cap=30000) == 30000


def test_too_small_a_budget_says_how_much_it_needs() -> None:
    with pytest.raises(UserError, match=r"--budget-seconds: 30 s left.*need about \d+ s"):
        gpu_table.choose_steps(probes(0.1, 0.1), 30.0, seeds=3, top=3, cap=30000)


FIDS = {"dcgan3": 300.0, "dcgan5": 200.0, "wgan_gp": 100.0, "cgan1": 400.0}


@pytest.fixture
def fake_stages(monkeypatch):
    """gpu_table's orchestration with the stages replaced: what it trains, with which seed
    and steps, and which leaderboards it writes."""
    cfg = validate(compose(["profile=table_gpu", f"families=[{','.join(FIDS)}]", "train.device=cpu"]))
    calls = {"trained": [], "leaderboards": []}

    def train_and_score(run_cfg, family, seed_dir):
        calls["trained"].append((family, run_cfg.train.seed, run_cfg.train.steps))
        return {"fid": FIDS[family] + run_cfg.train.seed}

    monkeypatch.setattr(gpu_table, "load_params", lambda path: cfg)
    monkeypatch.setattr(gpu_table, "prepare_data", lambda cfg: None)
    monkeypatch.setattr(gpu_table, "load_prepared", lambda data_dir, split: None)
    monkeypatch.setattr(
        gpu_table, "probe", lambda cfg, family, data, device: gpu_table.Probe(0.01, 0.0, False)
    )
    monkeypatch.setattr(gpu_table, "train_and_score", train_and_score)
    monkeypatch.setattr(
        gpu_table,
        "write_leaderboard",
        lambda cfg, families, d: calls["leaderboards"].append((d.name, families)),
    )
    monkeypatch.setattr(gpu_table, "write_samples", lambda seed_dir: None)
    return cfg, calls


def test_every_family_at_one_step_count_then_more_seeds_of_the_best_and_a_rerun_resumes(
    tmp_path, fake_stages
):
    cfg, calls = fake_stages
    out = tmp_path / "out"
    gpu_table.main(["--out", str(out), "--budget-seconds", "1000", "--seeds", "3", "--top", "2"])
    steps = {s for _, _, s in calls["trained"]}
    assert len(steps) == 1 and steps.pop() % gpu_table.STEP_QUANTUM == 0
    assert [(f, seed) for f, seed, _ in calls["trained"]] == [(f, 0) for f in FIDS] + [
        ("wgan_gp", 1),
        ("dcgan5", 1),
        ("wgan_gp", 2),
        ("dcgan5", 2),
    ]
    assert calls["leaderboards"] == [
        ("seed0", list(FIDS)),
        ("seed1", ["wgan_gp", "dcgan5"]),
        ("seed2", ["wgan_gp", "dcgan5"]),
    ]
    state = json.loads((out / "run.json").read_text())
    assert state["top"] == ["wgan_gp", "dcgan5"] and state["skipped"] == []
    calls["trained"].clear()
    gpu_table.main(["--out", str(out), "--budget-seconds", "1000", "--seeds", "3", "--top", "2"])
    assert calls["trained"] == []  # every run scored already: nothing trains again
    cfg.train.lr_g = 1e-3
    with pytest.raises(UserError, match="run.json: a run of other params; give another --out"):
        gpu_table.main(["--out", str(out)])


def test_later_seeds_that_the_budget_cannot_hold_are_skipped_and_listed(tmp_path, fake_stages):
    _, calls = fake_stages
    gpu_table.main(["--out", str(tmp_path), "--steps", "100", "--budget-seconds", "0", "--top", "2"])
    assert [(f, seed, s) for f, seed, s in calls["trained"]] == [(f, 0, 100) for f in FIDS]
    skipped = json.loads((tmp_path / "run.json").read_text())["skipped"]
    assert skipped == ["wgan_gp/seed1", "dcgan5/seed1", "wgan_gp/seed2", "dcgan5/seed2"]


def test_a_seed_s_leaderboard_reads_that_seed_s_metrics_only(tmp_path, monkeypatch, base_config) -> None:
    """write_leaderboard ranks the copies in OUT/seed<n>/metrics; the workspace's
    reports/metrics (another seed's, or none) play no part."""
    from tests.test_sampling import write_metrics

    monkeypatch.chdir(tmp_path)
    seed_dir = tmp_path / "out" / "seed1"
    (seed_dir / "metrics").mkdir(parents=True)
    for family, fid in (("dcgan3", 50.0), ("dcgan5", 40.0)):
        write_metrics(seed_dir / "metrics", family, fid=fid, accuracy=None)
    gpu_table.write_leaderboard(base_config, ["dcgan3", "dcgan5"], seed_dir)
    lines = (seed_dir / "leaderboard.md").read_text().splitlines()
    rows = [line.split("|")[1].strip() for line in lines if line.startswith("| dcgan")]
    assert rows == ["dcgan5", "dcgan3"]  # by FID
    assert "10 more grids" not in (seed_dir / "leaderboard.md").read_text()
    assert not (tmp_path / "reports").exists()
