"""The shared training loop: schedules, batches, objectives, and exact resume."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch

from stages.config import Config, GanLoss, LrSchedule
from stages.data.dataset import BatchSampler, ImageSet
from stages.training import Interrupted, lr_factor, train_gan

CPU = torch.device("cpu")


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
