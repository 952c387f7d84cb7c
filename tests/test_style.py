"""Neural style transfer: losses, layer names, backbone choice, and the two stages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torchvision.models import vgg19

from stages.core.errors import UserError
from stages.core.schema import GramNorm, StyleBackbone, StyleConfig, StyleParamSet
from stages.models.featurenet import FeatureNet
from stages.style.transfer import (
    StyleLoss,
    StyleSettings,
    featurenet_layers,
    gram_matrix,
    load_vgg19,
    resolve_style_backbone,
    transfer,
    vgg19_layer_indices,
)
from tests.test_stages import error_lines, run_stage, write_params


def test_gram_matrix_equals_the_hand_computed_one() -> None:
    features = torch.tensor([[[[1.0, 2.0], [0.0, 1.0]], [[0.0, 1.0], [3.0, 1.0]]]])  # (1, 2, 2, 2)
    # rows: channel 0 = (1, 2, 0, 1), channel 1 = (0, 1, 3, 1); divide by M = H*W = 4 (Gatys)
    expected = torch.tensor([[[6.0, 3.0], [3.0, 11.0]]]) / 4
    assert torch.allclose(gram_matrix(features), expected)
    # per_entry_mean, the old scale: by C*H*W = 8
    assert torch.allclose(gram_matrix(features, GramNorm.per_entry_mean), expected / 2)


def test_vgg19_layer_names_select_torchvision_indices() -> None:
    indices = vgg19_layer_indices()
    assert len(indices) == 16
    # the ReLU right after each named conv in torchvision's vgg19().features
    expected = {
        "conv1_1": 1,
        "conv1_2": 3,
        "conv2_1": 6,
        "conv3_1": 11,
        "conv4_1": 20,
        "conv4_2": 22,
        "conv5_1": 29,
    }
    assert {k: indices[k] for k in expected} == expected
    features = vgg19(weights=None).features
    for name, index in indices.items():
        assert isinstance(features[index], torch.nn.ReLU) and isinstance(
            features[index - 1], torch.nn.Conv2d
        ), name


@pytest.fixture(scope="module")
def random_vgg() -> object:
    torch.manual_seed(0)
    return load_vgg19(None)


def images(seed: int, size: int = 32) -> torch.Tensor:
    return torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_content_and_style_losses_vanish_at_their_targets(random_vgg) -> None:  # noqa: ANN001
    settings = StyleSettings.resolve(StyleConfig(), random_vgg)
    assert settings.content_layers == ["conv4_2"] and len(settings.style_layers) == 5
    content, style = images(1), images(2)
    loss = StyleLoss(random_vgg, settings, content, style)
    at_content, at_style = loss(content), loss(style)
    assert at_content["content"].item() == 0 and at_content["style"].item() > 0
    assert at_style["style"].item() == 0 and at_style["content"].item() > 0


def test_unknown_layers_and_mismatched_weights_are_named(random_vgg) -> None:  # noqa: ANN001
    with pytest.raises(
        UserError, match=r"style\.style_layers: unknown layer 'conv6_1' for backbone vgg19-random"
    ):
        StyleSettings.resolve(StyleConfig(style_layers=["conv1_1", "conv6_1"]), random_vgg)
    bad = StyleParamSet(content_layers=["relu9"])
    with pytest.raises(UserError, match=r"style\.param_sets\.x\.content_layers: .*valid: conv1_1, conv1_2"):
        StyleSettings.resolve(StyleConfig(), random_vgg, bad, "style.param_sets.x")
    with pytest.raises(UserError, match=r"2 weights for 5 style layers"):
        StyleSettings.resolve(StyleConfig(style_layer_weights=[1.0, 2.0]), random_vgg)


def test_auto_takes_vgg19_only_when_its_weights_file_is_present(tmp_path: Path) -> None:
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    cfg = StyleConfig(vgg_weights=str(path))
    assert resolve_style_backbone(cfg) == StyleBackbone.featurenet
    torch.save({f"features.{k}": v for k, v in vgg19(weights=None).features.state_dict().items()}, path)
    assert resolve_style_backbone(cfg) == StyleBackbone.vgg19
    loaded = load_vgg19(path)
    assert loaded.info.name == "vgg19-imagenet" and len(loaded.info.weights_sha256) == 64
    missing = StyleConfig(backbone=StyleBackbone.vgg19, vgg_weights=str(tmp_path / "none.pth"))
    with pytest.raises(UserError, match=r"none\.pth: VGG19 weights not found; download https://download"):
        load_vgg19(Path(missing.vgg_weights))


def test_only_the_layers_up_to_the_deepest_one_used_are_kept(random_vgg) -> None:  # noqa: ANN001
    backbone = load_vgg19(None)
    backbone.keep_up_to(["conv1_1", "conv3_1"])
    assert len(backbone.layers) == vgg19_layer_indices()["conv3_1"] + 1
    with pytest.raises(UserError, match="unknown layer 'conv4_2'"):
        backbone.check_layers(["conv4_2"], "style.content_layers")


def test_featurenet_layers_are_named_like_vgg(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = FeatureNet(10, 8, (1, 2, 1, 1))
    path = tmp_path / "featurenet.pt"
    torch.save(
        {"classes": list("abcdefghij"), "width": 8, "convs": [1, 2, 1, 1], "state_dict": model.state_dict()},
        path,
    )
    layers = featurenet_layers(path)
    assert list(layers.indices) == ["conv1_1", "conv2_1", "conv2_2", "conv3_1", "conv4_1"]
    assert layers.info.default_content == ("conv4_1",)
    assert layers.info.default_style == ("conv1_1", "conv2_1", "conv3_1", "conv4_1")


def test_a_short_run_lowers_the_loss_and_is_reproducible(random_vgg) -> None:  # noqa: ANN001
    cfg = StyleConfig(image_size=32, seed=3)
    settings = StyleSettings.resolve(cfg, random_vgg)
    content, style = images(1), images(2)
    runs = [
        transfer(cfg, StyleLoss(random_vgg, settings, content, style), content, [3, 6], False)
        for _ in range(2)
    ]
    history = runs[0].history
    assert len(history) == 6 and history[-1]["total"] < history[0]["total"]
    assert set(runs[0].snapshots) == {3, 6}
    assert torch.equal(runs[0].snapshots[6], runs[1].snapshots[6])
    assert 0 <= runs[0].snapshots[6].min() and runs[0].snapshots[6].max() <= 1


def test_the_stages_write_every_output_and_name_a_missing_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    overrides = ["data=shapes", "profile=smoke", "train.num_threads=1"]
    work = write_params(tmp_path / "ok", overrides, monkeypatch)
    from tests.conftest import REPO

    (work / "data/raw").mkdir(parents=True)
    (work / "data/raw/style_smoke").symlink_to(REPO / "data/raw/style_smoke")
    torch.manual_seed(0)
    (work / "artifacts/featurenet").mkdir(parents=True)
    torch.save(
        {
            "classes": list("abcdefghij"),
            "width": 8,
            "convs": [1, 1, 1, 1],
            "state_dict": FeatureNet(10, 8).state_dict(),
        },
        work / "artifacts/featurenet/shapes.pt",
    )
    for stage in ("stylize", "style_grid"):
        result = run_stage(work, stage)
        assert result.returncode == 0, result.stderr
    metrics = json.loads((work / "reports/style/metrics.json").read_text())
    protocol = json.loads((work / "reports/style/protocol.json").read_text())
    assert protocol["backbone"] == "featurenet" and protocol["iterations"] == 5
    for name in ("content", "control"):
        assert metrics[name]["total_loss"] < metrics[name]["start_total_loss"]
        assert (work / f"reports/style/transfer/{name}.png").stat().st_size > 500
        assert len((work / f"reports/style/losses/{name}.csv").read_text().splitlines()) == 1 + 5
        assert (work / f"reports/style/grid/{name}.png").is_file()
    losses = (work / "reports/style/grid/losses.csv").read_text().splitlines()
    assert len(losses) == 1 + 4 * 2 * 2  # 4 parameter sets x 2 images x 2 iteration counts
    assert "| content | gatys" in (work / "reports/style/grid/table.md").read_text()

    broken = write_params(tmp_path / "bad", [*overrides, "style.control=data/raw/nowhere.png"], monkeypatch)
    (broken / "data").symlink_to(work / "data")
    result = run_stage(broken, "stylize")
    assert result.returncode == 2
    assert error_lines(result) == ["error: style.control='data/raw/nowhere.png': no such image file"]
    assert not (broken / "reports").exists()
