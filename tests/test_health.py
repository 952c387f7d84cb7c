"""Training health: a failed run stops in one line and keeps its last good state; an
unreadable checkpoint is set aside, never unpickled; equal image budgets per family."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path, PurePosixPath

import pytest
import torch
from torch import nn

from stages.core.checkpoint import Checkpoint
from stages.core.io import load_torch, save_torch
from stages.core.schema import Config, GanLoss, load_params
from stages.gan import health, objectives
from stages.gan.health import CollapseWatch, TrainingFailed, check_losses, check_samples, check_weights
from stages.gan.loop import training_steps
from stages.models.registry import ARCHITECTURES, build_gan
from stages.report import leaderboard
from tests.test_sampling import write_metrics
from tests.test_stages import run_stage, write_params

CPU = torch.device("cpu")


def poison_d_loss_from_call(monkeypatch: pytest.MonkeyPatch, first_bad_call: int) -> None:
    """D's BCE loss becomes NaN from its `first_bad_call`-th evaluation on (1-based)."""
    real_loss = objectives.NonSaturatingBCE.d_from_logits
    calls = {"n": 0}

    def poisoned(self, real, fake):  # noqa: ANN001, ANN202
        calls["n"] += 1
        loss = real_loss(self, real, fake)
        return loss * float("nan") if calls["n"] >= first_bad_call else loss

    monkeypatch.setattr(objectives.NonSaturatingBCE, "d_from_logits", poisoned)


def test_a_nan_loss_stops_in_one_line_keeps_the_last_good_checkpoint_and_marks_the_family_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from stages import train

    overrides = ["data=shapes", "data.n_train=200", "data.n_test=50", "train.steps=30", "train.batch_size=16"]
    more = ["train.checkpoint_every=10", "train.log_every=5", "train.fid_every=0", "train.num_threads=1"]
    work = write_params(tmp_path, [*overrides, *more], monkeypatch)
    for stage in ("prepare", "outliers", "trainset"):
        assert run_stage(work, stage).returncode == 0
    monkeypatch.chdir(work)
    poison_d_loss_from_call(monkeypatch, first_bad_call=14)  # step 14: after the checkpoint of step 10

    with caplog.at_level(logging.INFO):
        summary = train.run(load_params("params.yaml"), "dcgan3", progress=False)

    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [
        "dcgan3: training failed at step 14: D loss is nan; its outputs hold the last good weights "
        "(step 10); kept checkpoints/dcgan3/last.pt, delete it to start over"
    ]
    checkpoint = load_torch(work / "checkpoints/dcgan3/last.pt")
    assert checkpoint["step"] == 10
    kept = load_torch(work / "artifacts/dcgan3/generator.pt")["state_dict"]
    assert all(torch.equal(kept[k], checkpoint["generator"][k]) for k in kept)
    assert summary["failed"] == "step 14: D loss is nan" and summary["steps_done"] == 10
    written = json.loads((work / "reports/train/dcgan3/summary.json").read_text())
    assert written["failed"] == summary["failed"] and written["steps"] == 30
    losses = (work / "reports/losses/dcgan3.csv").read_text().splitlines()
    assert len(losses) == 1 + 15 and "nan" in losses[14]  # up to the flush that found it


def test_a_failure_before_the_first_checkpoint_keeps_the_initial_weights(
    base_config: Config,
    tiny_shapes,
    monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    from stages.gan.loop import train_gan

    train = dataclasses.replace(base_config.train, steps=20, batch_size=16, log_every=4, checkpoint_every=10)
    model = base_config.models["dcgan3"]
    torch.manual_seed(train.seed)
    initial, _ = build_gan(model.arch, model.latent_dim, 32, n_classes=len(tiny_shapes.classes))
    poison_d_loss_from_call(monkeypatch, first_bad_call=3)
    result = train_gan(train, model, tiny_shapes, CPU, progress=False)
    assert result.failure == "step 3: D loss is nan" and result.steps_done == 0
    mine = result.generator.state_dict()
    assert all(torch.equal(mine[k], v) for k, v in initial.state_dict().items())


def test_a_family_failed_before_its_first_checkpoint_is_scored_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stages import evaluate, train

    overrides = [
        "data=shapes",
        "data.n_train=1000",
        "data.n_test=200",
        "train.steps=30",
        "train.batch_size=16",
    ]
    more = ["train.checkpoint_every=10", "train.log_every=2", "train.fid_every=0", "train.num_threads=1"]
    scoring = ["eval.n_samples=100", "eval.kid_subset_size=50", "featurenet.min_accuracy=0.3"]
    work = write_params(tmp_path, [*overrides, *more, *scoring], monkeypatch)
    for stage in ("prepare", "featurenet", "reference_stats", "outliers", "trainset"):
        assert run_stage(work, stage).returncode == 0
    monkeypatch.chdir(work)
    poison_d_loss_from_call(monkeypatch, first_bad_call=3)
    assert train.run(load_params("params.yaml"), "dcgan3", progress=False)["steps_done"] == 0
    calls = []
    real_score = evaluate.score_generator
    monkeypatch.setattr(evaluate, "score_generator", lambda *a, **k: calls.append(1) or real_score(*a, **k))
    evaluate.run(load_params("params.yaml"), "dcgan3")
    metrics = json.loads((work / "reports/metrics/dcgan3.json").read_text())
    assert len(calls) == 1 and metrics["fid"] == metrics["fid_untrained"]


def history_of(d_losses: list[float]) -> torch.Tensor:
    history = torch.zeros(len(d_losses), 5, dtype=torch.float64)
    history[:, 0] = torch.arange(len(d_losses))
    history[:, 1] = torch.tensor(d_losses)
    history[:, 2] = 1.0
    return history


def test_d_loss_at_zero_for_collapse_steps_in_a_row_is_a_failure_for_losses_floored_at_zero() -> None:
    history = history_of([0.7] * 10 + [0.0] * 50)
    check_losses(history, 59, GanLoss.bce, collapse_steps=50)  # 49 zeros so far: still running
    with pytest.raises(TrainingFailed, match="step 60: D loss at 0 for 50 steps in a row"):
        check_losses(history, 60, GanLoss.bce, collapse_steps=50)
    check_losses(history, 60, GanLoss.bce, collapse_steps=0)  # off
    check_losses(history, 60, GanLoss.wasserstein, collapse_steps=50)  # a critic's 0 means nothing
    with pytest.raises(TrainingFailed, match="step 3: G loss is inf"):
        broken = history_of([0.5] * 5)
        broken[2, 2] = float("inf")
        check_losses(broken, 5, GanLoss.hinge, collapse_steps=50)


def test_non_finite_weights_are_a_failure_naming_the_network() -> None:
    network = nn.Linear(3, 2)
    check_weights(7, discriminator=network)
    with torch.no_grad():
        network.bias[1] = float("nan")
    with pytest.raises(TrainingFailed, match="step 7: discriminator weights are not finite"):
        check_weights(7, generator=nn.Linear(2, 2), discriminator=network)


class Constant(nn.Module):
    """A collapsed generator: one textured image whatever the noise, up to `jitter`."""

    def __init__(self, jitter: float) -> None:
        super().__init__()
        self.jitter = jitter
        self.image = torch.linspace(-0.8, 0.8, 3 * 8 * 8).view(1, 3, 8, 8)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.image + self.jitter * z[:, :1, None, None]


class Flat(nn.Module):
    """A collapse to one flat colour."""

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return torch.full((len(z), 3, 8, 8), 0.3) + 1e-5 * z[:, :1, None, None]


def test_identical_samples_are_a_failure_and_no_untrained_family_looks_collapsed(base_config: Config) -> None:
    with pytest.raises(TrainingFailed, match="step 250: samples nearly identical"):
        check_samples(250, Constant(jitter=0.001), latent_dim=8, device=CPU)
    with pytest.raises(TrainingFailed, match="samples nearly identical"):
        check_samples(250, Flat(), latent_dim=8, device=CPU)
    check_samples(250, Constant(jitter=0.2), latent_dim=8, device=CPU)
    for model in base_config.models.values():  # no false alarm at the start of any run
        spec = ARCHITECTURES[model.arch]
        torch.manual_seed(0)
        width = 32 if spec.has_width else 0  # sngan at a test width
        generator, _ = build_gan(
            model.arch, model.latent_dim, spec.image_size or 32, n_classes=10, width=width
        )
        check_samples(1, generator, model.latent_dim, CPU)  # raises, naming nothing else, on a false alarm


def test_identical_samples_fail_at_two_checks_in_a_row_or_at_the_last_step() -> None:
    watch, same, varied = CollapseWatch(), Constant(jitter=0.001), Constant(jitter=0.2)
    assert not watch.healthy(250, same, 8, CPU, last=False)  # a strike: the run goes on
    assert watch.healthy(500, varied, 8, CPU, last=False)  # a phase it left: strikes reset
    assert not watch.healthy(750, same, 8, CPU, last=False)
    with pytest.raises(TrainingFailed, match=r"step 1000: samples nearly identical .* at 2 checks in a row"):
        watch.healthy(1000, same, 8, CPU, last=False)
    with pytest.raises(TrainingFailed, match=r"step 1000: samples nearly identical .* at the last step"):
        CollapseWatch().healthy(1000, same, 8, CPU, last=True)


def test_a_strike_writes_no_checkpoint_and_a_second_fails_with_the_last_good_weights(
    base_config: Config,
    tiny_shapes,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from stages.gan.loop import train_gan

    def collapsed_at_4_and_6(step: int, *args: object) -> None:
        if step in (4, 6):
            raise TrainingFailed(step, "samples nearly identical")

    monkeypatch.setattr(health, "check_samples", collapsed_at_4_and_6)
    train = dataclasses.replace(base_config.train, steps=10, batch_size=16, log_every=2, checkpoint_every=2)
    seen: list[int] = []
    saving = Checkpoint.save
    monkeypatch.setattr(
        Checkpoint, "save", lambda self, state: (seen.append(state["step"]), saving(self, state))
    )
    result = train_gan(
        train, base_config.models["dcgan3"], tiny_shapes, CPU, tmp_path / "last.pt", "fp", progress=False
    )
    assert result.failure == "step 6: samples nearly identical at 2 checks in a row"
    assert seen == [2] and result.steps_done == 2  # nothing written at the strike (step 4)
    on_disk = load_torch(tmp_path / "last.pt")
    assert on_disk["step"] == 2
    mine = result.generator.state_dict()
    assert all(torch.equal(mine[k], on_disk["generator"][k]) for k in mine)


@pytest.mark.parametrize("kind", ["truncated", "foreign"])
def test_an_unreadable_checkpoint_is_set_aside_and_the_run_starts_over(
    tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "last.pt"
    if kind == "truncated":
        save_torch(path, {"fingerprint": "fp", "weights": torch.zeros(1000)})
        path.write_bytes(path.read_bytes()[:500])
    else:  # objects other than tensors: weights_only=True refuses to unpickle them
        torch.save({"fingerprint": "fp", "where": PurePosixPath("elsewhere")}, path)
    with caplog.at_level(logging.WARNING):
        assert Checkpoint(path, "fp").load() is None
    assert not path.exists() and (tmp_path / "last.pt.unreadable").is_file()
    assert [r.getMessage() for r in caplog.records] == [
        f"{path} is unreadable (truncated, or not a checkpoint of this project): "
        "set aside as last.pt.unreadable, starting over"
    ]


def test_an_image_budget_gives_every_family_the_same_real_images(base_config: Config) -> None:
    train = dataclasses.replace(base_config.train, steps=3000, batch_size=32, budget_images=32_000)
    dcgan, wgan = base_config.models["dcgan3"], base_config.models["wgan2"]
    assert wgan.d_steps == 5
    assert training_steps(train, dcgan) == 1000 and training_steps(train, wgan) == 200
    assert training_steps(dataclasses.replace(train, budget_images=0), wgan) == 3000


def test_the_leaderboard_shows_a_failed_family_with_its_reason(base_config: Config, tmp_path: Path) -> None:
    # write_metrics gives every family an untrained FID of 99
    for family, fid, failed, coverage in (
        ("dcgan3", 20.0, "", 0.2),
        ("dcgan2", 90.0, "step 14: D loss is nan", 0.2),
        ("dcgan5", 130.0, "", 0.2),  # trained, no check failed, and worse than untrained
        ("dcgan4", 40.0, "", 0.003),  # below its floor, but a texture: coverage as untrained
    ):
        write_metrics(tmp_path, family, fid=fid, accuracy=None)
        path = tmp_path / f"{family}.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "failed": failed, "coverage": coverage}))
    cfg = dataclasses.replace(base_config, families=["dcgan3", "dcgan2", "dcgan5", "dcgan4"])
    markdown, _ = leaderboard(cfg, tmp_path)
    rows = {line.split("|")[1].strip(): line for line in markdown.splitlines() if line.startswith("| dcgan")}
    assert "| ok " in rows["dcgan3"] and "| failed at step 14: D loss is nan " in rows["dcgan2"]
    assert "| did not learn: FID not below untrained " in rows["dcgan5"]
    assert "| collapsed: coverage 0.0030 below 0.01 " in rows["dcgan4"]


def test_the_health_check_draws_nothing_from_the_training_streams(base_config: Config, tiny_shapes) -> None:  # noqa: ANN001
    """Checking samples at every checkpoint must not change what training computes."""
    from stages.gan.loop import train_gan

    train = dataclasses.replace(base_config.train, steps=6, batch_size=16, log_every=2)
    model = base_config.models["dcgan3"]
    checked = train_gan(
        dataclasses.replace(train, checkpoint_every=2), model, tiny_shapes, CPU, progress=False
    )
    unchecked = train_gan(
        dataclasses.replace(train, checkpoint_every=100), model, tiny_shapes, CPU, progress=False
    )
    assert torch.equal(checked.history, unchecked.history)
    a, b = checked.generator.state_dict(), unchecked.generator.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_table_profile_gives_every_cifar_family_the_same_g_updates(monkeypatch) -> None:  # noqa: ANN001
    from stages.core.schema import compose, validate
    from tests.conftest import REPO

    monkeypatch.chdir(REPO)
    cfg = validate(compose(["profile=table"]))
    in_table = sorted(f for f, m in cfg.models.items() if ARCHITECTURES[m.arch].in_table)
    assert sorted(cfg.families) == in_table and len(cfg.families) == 17
    # the CPU profile's own SNGAN budget (models.sngan.steps) must not leak into the table
    steps = {f: training_steps(cfg.train, cfg.models[f]) for f in cfg.families}
    assert steps == dict.fromkeys(cfg.families, 1000)
    assert cfg.train.batch_size == 32 and {cfg.models[f].d_steps for f in cfg.families} == {1, 5}
