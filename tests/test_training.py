"""The shared training loop: schedules, batches, objectives, and exact resume."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from stages.core.schema import Config, GanLoss, LrSchedule
from stages.data.dataset import BatchSampler, ImageSet
from stages.gan.loop import (
    Interrupted,
    clip_weights,
    diffaugment_policy,
    ema_decay_at,
    ema_update,
    lr_factor,
    make_optimizer,
    train_gan,
    training_steps,
)
from stages.gan.objectives import WassersteinGP, gradient_penalty
from stages.models.registry import ARCHITECTURES

CPU = torch.device("cpu")
ALL_FAMILIES = [p.stem for p in (Path(__file__).resolve().parents[1] / "conf/model").glob("*.yaml")]


def small_run(cfg: Config, **train_overrides) -> tuple:  # noqa: ANN003
    train = dataclasses.replace(
        cfg.train, **{"steps": 12, "batch_size": 16, "log_every": 4, "checkpoint_every": 5, **train_overrides}
    )
    return train, cfg.models["dcgan3"]


@pytest.mark.parametrize(
    ("schedule", "step", "expected"),
    [
        (LrSchedule.constant, 70, 1.0),
        (LrSchedule.step, 19, 1.0),
        (LrSchedule.step, 20, 0.5),
        (LrSchedule.step, 85, 0.5**4),
        (LrSchedule.cosine, 0, 1.0),
        (LrSchedule.cosine, 50, 0.1 + 0.9 * 0.5),
        (LrSchedule.exp, 50, math.sqrt(0.1)),
        (LrSchedule.exp, 100, 0.1),
        (LrSchedule.linear, 25, 1 - 0.9 * 0.25),
    ],
)
def test_each_schedule_gives_the_expected_lr_factor(base_config: Config, schedule, step, expected) -> None:  # noqa: ANN001
    cfg = dataclasses.replace(
        base_config.train, lr_milestones=[0.2, 0.4, 0.6, 0.8], lr_gamma=0.5, lr_end_factor=0.1
    )
    assert lr_factor(schedule, step, 100, cfg) == pytest.approx(expected)


def test_sampler_yields_every_index_once_per_epoch_in_a_seeded_order() -> None:
    data = ImageSet(
        torch.arange(40, dtype=torch.uint8).view(40, 1, 1, 1).expand(40, 3, 2, 2).clone(),
        torch.arange(40),
        ["x"],
    )
    first = BatchSampler(data, batch_size=8, seed=5)
    epoch = torch.cat([first.next()[1] for _ in range(5)])
    assert sorted(epoch.tolist()) == list(range(40))
    again = BatchSampler(data, batch_size=8, seed=5)
    assert torch.equal(torch.cat([again.next()[1] for _ in range(5)]), epoch)
    other = BatchSampler(data, batch_size=8, seed=6)
    assert not torch.equal(torch.cat([other.next()[1] for _ in range(5)]), epoch)
    images, labels = first.next()  # next epoch: images scaled to [-1, 1] and match their labels
    assert images.min() >= -1 and images.max() <= 1
    assert torch.allclose(images[:, 0, 0, 0], labels.float() / 127.5 - 1)


@pytest.mark.parametrize("loss", list(GanLoss))
def test_every_objective_trains_with_finite_losses(base_config: Config, tiny_shapes: ImageSet, loss) -> None:  # noqa: ANN001
    train, model = small_run(base_config, steps=3)
    result = train_gan(train, dataclasses.replace(model, loss=loss), tiny_shapes, CPU, progress=False)
    assert torch.isfinite(result.history).all()
    assert result.history[:, 0].tolist() == [0, 1, 2]
    assert result.images_seen == 3 * 16


def test_an_interrupted_run_resumes_to_the_same_weights(
    base_config: Config, tiny_shapes: ImageSet, tmp_path: Path
) -> None:
    train, model = small_run(base_config)
    straight = train_gan(train, model, tiny_shapes, CPU, progress=False)

    checkpoint = tmp_path / "last.pt"
    with pytest.raises(Interrupted):
        train_gan(train, model, tiny_shapes, CPU, checkpoint, "fp", stop_at=7, progress=False)
    assert checkpoint.is_file()
    resumed = train_gan(train, model, tiny_shapes, CPU, checkpoint, "fp", progress=False)

    for a, b in zip(
        straight.generator.state_dict().values(), resumed.generator.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    assert torch.equal(straight.history, resumed.history)


def test_a_checkpoint_of_other_params_is_not_resumed(
    base_config: Config, tiny_shapes: ImageSet, tmp_path: Path
) -> None:
    train, model = small_run(base_config)
    checkpoint = tmp_path / "last.pt"
    with pytest.raises(Interrupted):
        train_gan(train, model, tiny_shapes, CPU, checkpoint, "old-params", stop_at=6, progress=False)
    fresh = train_gan(train, model, tiny_shapes, CPU, checkpoint, "new-params", progress=False)
    straight = train_gan(train, model, tiny_shapes, CPU, progress=False)
    assert torch.equal(fresh.history, straight.history)


@pytest.mark.parametrize("family", sorted(ALL_FAMILIES))
def test_one_step_of_every_family_gives_finite_losses(
    base_config: Config, tiny_shapes: ImageSet, family: str
) -> None:
    train = dataclasses.replace(base_config.train, steps=1, batch_size=8, log_every=1)
    data = tiny_shapes
    if ARCHITECTURES[base_config.models[family].arch].image_size == 64:  # dcgan_radford64
        data = ImageSet(
            F.interpolate(data.images[:16].float(), scale_factor=2).byte(), data.labels[:16], data.classes
        )
    result = train_gan(train, base_config.models[family], data, CPU, progress=False)
    assert torch.isfinite(result.history[:, 1:3]).all()
    images = result.generator.eval()(
        torch.randn(2, base_config.models[family].latent_dim), torch.tensor([1, 2])
    )
    assert torch.isfinite(images).all()


class LinearCritic(torch.nn.Module):
    """D(x) = sum(w * x): its gradient is w at every x."""

    def __init__(self, weight: float) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.weight * x.flatten(1).sum(1)


class QuadraticCritic(torch.nn.Module):
    """D(x) = |x|^2 / 2: its gradient is x itself."""

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return 0.5 * x.flatten(1).square().sum(1)


def test_gradient_penalty_equals_the_hand_computed_value() -> None:
    real, fake = torch.ones(3, 1, 2, 2), -torch.ones(3, 1, 2, 2)
    labels = torch.zeros(3, dtype=torch.long)
    # linear critic: |grad| = |w| * sqrt(4 pixels) = 2w wherever the point is, so GP = (2w - 1)^2
    assert gradient_penalty(LinearCritic(0.5), real, fake, labels).item() == pytest.approx(0.0)
    assert gradient_penalty(LinearCritic(1.5), real, fake, labels).item() == pytest.approx(4.0)
    # quadratic critic: grad = x = eps * 1 + (1 - eps) * (-1) = 2 eps - 1 on each of 4 pixels
    torch.manual_seed(7)
    eps = torch.rand(3, 1, 1, 1).flatten()
    expected = ((2 * (2 * eps - 1).abs() - 1) ** 2).mean()
    torch.manual_seed(7)
    assert gradient_penalty(QuadraticCritic(), real, fake, labels).item() == pytest.approx(expected.item())
    # and the objective adds weight * GP to the Wasserstein loss (critic scores are 2w*... = 0 here)
    objective = WassersteinGP(weight=10.0)
    torch.manual_seed(7)
    loss = objective.discriminator(QuadraticCritic(), real, fake, labels)
    # D(real) = D(fake) = 2, so the Wasserstein part is 0 and the loss is 10 * GP
    assert loss.item() == pytest.approx(10 * expected.item())


def test_weight_clipping_keeps_every_critic_weight_within_clip(
    base_config: Config, tiny_shapes: ImageSet
) -> None:
    model = dataclasses.replace(
        base_config.models["wgan1"], lr_d=0.5, d_steps=2
    )  # a big lr would leave the box
    train = dataclasses.replace(base_config.train, steps=2, batch_size=8)
    result = train_gan(train, model, tiny_shapes, CPU, progress=False)
    weights = torch.cat([p.detach().flatten() for p in result.discriminator.parameters()])
    assert weights.abs().max().item() <= model.clip
    assert weights.abs().max().item() == pytest.approx(model.clip)  # and the clip was reached, so it acted

    huge = torch.nn.Linear(4, 4)
    with torch.no_grad():
        huge.weight.fill_(3.0)
    clip_weights(huge, 0.01)
    assert huge.weight.detach().abs().max().item() == pytest.approx(0.01)


def test_ema_moves_toward_the_live_weights_by_the_decay() -> None:
    live, ema = torch.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    with torch.no_grad():
        live.weight.fill_(1.0)
        ema.weight.fill_(0.0)
        live.running_mean.fill_(5.0)
    ema_update(ema, live, decay=0.9)
    assert torch.allclose(ema.weight, torch.full((3,), 0.1))  # 0.9 * 0 + 0.1 * 1
    ema_update(ema, live, decay=0.9)
    assert torch.allclose(ema.weight, torch.full((3,), 0.19))  # 0.9 * 0.1 + 0.1 * 1
    assert torch.equal(ema.running_mean, live.running_mean)  # statistics are copied, not averaged
    # warm-up: early steps follow the live weights closely, later ones use the stated decay
    assert ema_decay_at(0.999, 0) == pytest.approx(0.1)
    assert ema_decay_at(0.999, 100_000) == 0.999


def test_an_ema_run_samples_from_the_averaged_generator(base_config: Config, tiny_shapes: ImageSet) -> None:
    train = dataclasses.replace(base_config.train, steps=3, batch_size=8)
    plain = train_gan(train, base_config.models["dcgan3"], tiny_shapes, CPU, progress=False)
    averaged = train_gan(
        train,
        dataclasses.replace(base_config.models["dcgan3"], ema_decay=0.5),
        tiny_shapes,
        CPU,
        progress=False,
    )
    # same seed, same live trajectory: the EMA generator must differ from the live one
    assert torch.equal(plain.history, averaged.history)
    a = torch.cat([p.flatten() for p in plain.generator.parameters()])
    b = torch.cat([p.flatten() for p in averaged.generator.parameters()])
    assert not torch.allclose(a, b)
    assert not any(p.requires_grad for p in averaged.generator.parameters())


def test_rmsprop_is_used_when_the_family_says_so(base_config: Config) -> None:
    net = torch.nn.Linear(2, 2)
    rms = make_optimizer(net, 5e-5, base_config.train, base_config.models["wgan1"], CPU)
    adam = make_optimizer(net, 1e-4, base_config.train, base_config.models["wgan_gp"], CPU)
    assert isinstance(rms, torch.optim.RMSprop) and rms.param_groups[0]["lr"] == 5e-5
    assert isinstance(adam, torch.optim.Adam) and adam.param_groups[0]["betas"] == (0.0, 0.9)


@pytest.mark.parametrize(
    "options",
    [{"augment": True}, {"diffaugment": "color,translation,cutout"}, {"cutmix": 1.0}],
    ids=["augment", "diffaugment", "cutmix"],
)
def test_each_improvement_trains_and_changes_the_run(
    base_config: Config, tiny_shapes: ImageSet, options: dict
) -> None:
    train, model = small_run(base_config, steps=4)
    baseline = train_gan(train, model, tiny_shapes, CPU, progress=False)
    improved = train_gan(dataclasses.replace(train, **options), model, tiny_shapes, CPU, progress=False)
    assert torch.isfinite(improved.history).all()
    assert not torch.equal(baseline.history[:, 1:3], improved.history[:, 1:3])  # it acted


def test_a_family_s_own_steps_and_diffaugment_replace_the_shared_ones(
    base_config: Config, tiny_shapes: ImageSet
) -> None:
    train, model = small_run(base_config, steps=3)
    own = dataclasses.replace(model, steps=5, diffaugment="color,translation")
    assert training_steps(train, model) == 3 and training_steps(train, own) == 5
    # an equal-images budget (the all-families table) still sets every family's steps
    assert training_steps(dataclasses.replace(train, budget_images=64), own) == 64 // train.batch_size
    shared = dataclasses.replace(train, diffaugment="color,translation")
    assert diffaugment_policy(train, own) == "color,translation"
    assert diffaugment_policy(shared, dataclasses.replace(model, diffaugment="")) == ""  # off for it
    by_family = train_gan(train, own, tiny_shapes, CPU, progress=False)
    by_train = train_gan(dataclasses.replace(shared, steps=5), model, tiny_shapes, CPU, progress=False)
    assert by_family.steps_done == 5
    assert torch.equal(by_family.history, by_train.history)  # the same run, configured either way


def test_a_run_with_every_improvement_resumes_to_the_same_weights(
    base_config: Config, tiny_shapes: ImageSet, tmp_path: Path
) -> None:
    train, _ = small_run(base_config, augment=True, diffaugment="color,translation,cutout", cutmix=0.5)
    model = base_config.models["cgan1"]  # conditional: CutMix must hand D a label too
    straight = train_gan(train, model, tiny_shapes, CPU, progress=False)
    checkpoint = tmp_path / "last.pt"
    with pytest.raises(Interrupted):
        train_gan(train, model, tiny_shapes, CPU, checkpoint, "fp", stop_at=6, progress=False)
    resumed = train_gan(train, model, tiny_shapes, CPU, checkpoint, "fp", progress=False)
    for a, b in zip(
        straight.generator.state_dict().values(), resumed.generator.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)


class ParamSumMonitor:
    """A StepMonitor that records a number of the sampling generator's weights."""

    every = 4

    def __init__(self) -> None:
        self.rows: list[list[float]] = []

    def __call__(self, step: int, generator: torch.nn.Module) -> None:
        self.rows.append([step, float(sum(p.detach().double().sum() for p in generator.parameters()))])

    def state_dict(self) -> dict:
        return {"rows": self.rows}

    def load_state_dict(self, state: dict) -> None:
        self.rows = [list(row) for row in state["rows"]]


def test_a_monitor_sees_the_same_steps_and_weights_across_an_interruption(
    base_config: Config, tiny_shapes: ImageSet, tmp_path: Path
) -> None:
    train, model = small_run(base_config)  # 12 steps: the monitor runs at 4, 8, 12
    straight_monitor = ParamSumMonitor()
    straight = train_gan(train, model, tiny_shapes, CPU, progress=False, monitor=straight_monitor)
    checkpoint = tmp_path / "last.pt"
    first = ParamSumMonitor()
    with pytest.raises(Interrupted):
        train_gan(train, model, tiny_shapes, CPU, checkpoint, "fp", stop_at=6, progress=False, monitor=first)
    resumed_monitor = ParamSumMonitor()  # a new process: the rows come from the checkpoint
    resumed = train_gan(
        train, model, tiny_shapes, CPU, checkpoint, "fp", progress=False, monitor=resumed_monitor
    )
    assert [row[0] for row in straight_monitor.rows] == [4, 8, 12]
    assert resumed_monitor.rows == straight_monitor.rows
    assert torch.equal(straight.history, resumed.history)  # the monitor changed no training step
