"""conf/ is the source of truth; the schema rejects bad values with the key in the message."""

from __future__ import annotations

import pytest
import yaml

from stages.core.errors import UserError
from stages.core.schema import compose, validate
from tests.conftest import REPO


def test_committed_params_yaml_is_the_composition_of_conf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    assert yaml.safe_load((REPO / "params.yaml").read_text()) == compose()


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.lr_schedule=bogus", "train.lr_schedule=bogus; Invalid value 'bogus'"),
        ("train.lr_g=abc", "train.lr_g"),
        ("eval.backbone=resnet", "eval.backbone"),
        ("train.steps=many", "train.steps"),
        ("domains.small_images=shrink", "domains.small_images"),
        ("cyclegan.flip=sometimes", "cyclegan.flip"),
        ("train.nonsense=1", "Key 'nonsense' not in 'TrainConfig'"),
        ("profile=nope", "Could not find 'profile/nope'; options: cpu, gpu, smoke, table, table_gpu"),
        ("train.diffaugment=color,cutout", "quote the value: key='value1,value2'"),
    ],
)
def test_a_bad_override_fails_at_composition_in_one_line_naming_it(
    override: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    with pytest.raises(UserError) as err:
        compose([override])
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_hand_edited_params_are_validated_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    values = compose()
    values["train"]["lr_schedule"] = "bogus"
    with pytest.raises(UserError, match=r"train\.lr_schedule"):
        validate(values)


@pytest.mark.parametrize(
    ("section", "key", "value", "pattern"),
    [
        ("train", "steps", 0, r"train\.steps=0 is invalid"),
        ("train", "lr_milestones", [0.5, 0.2], r"train\.lr_milestones"),
        (
            "train",
            "diffaugment",
            "color,blur",
            r"train\.diffaugment='color,blur' is invalid: comma-separated ops",
        ),
        ("train", "cutmix", 1.5, r"train\.cutmix=1\.5 is invalid"),
        ("eval", "kid_subset_size", 10**6, r"eval\.kid_subset_size"),
        ("eval", "sharpen", -1.0, r"eval\.sharpen=-1\.0 is invalid"),
        ("outliers", "fraction", 1.0, r"outliers\.fraction=1\.0 is invalid: a share in \[0, 1\)"),
        ("outliers", "fraction", -0.1, r"outliers\.fraction=-0\.1 is invalid"),
        ("oversample", "target", -5, r"oversample\.target=-5 is invalid"),
        ("style", "iterations", 0, r"style\.iterations=0 is invalid: must be > 0"),
        ("style", "style_weight", -1.0, r"style\.style_weight=-1\.0 is invalid: must be > 0"),
        ("style", "grid_iterations", [50, 0], r"style\.grid_iterations=\[50, 0\] is invalid"),
        ("style", "style_layer_weights", [1.0, 0.0], r"style\.style_layer_weights=\[1\.0, 0\.0\]"),
        (
            "extra",
            "images",
            "data/extra/mine",
            r"extra\.label='' is invalid: name the class of extra\.images",
        ),
        (None, "families", ["nope"], r"families='nope' is invalid: no models\.nope"),
        ("domains", "image_size", 30, r"domains\.image_size=30 is invalid: a multiple of 4, >= 32"),
        ("domains", "test_fraction", 1.0, r"domains\.test_fraction=1\.0 is invalid"),
        ("cyclegan", "lambda_cycle", -1.0, r"cyclegan\.lambda_cycle=-1\.0 is invalid"),
        ("cyclegan", "steps", 0, r"cyclegan\.steps=0 is invalid"),
        ("cyclegan", "decay_start", 1.5, r"cyclegan\.decay_start=1\.5 is invalid"),
        ("export", "quality", 0, r"export\.quality=0 is invalid"),
        ("export", "min_images", 20000, r"export\.min_images=20000 is invalid"),
    ],
)
def test_values_outside_their_range_are_rejected(section, key, value, pattern, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(REPO)
    values = compose()
    (values[section] if section else values)[key] = value
    with pytest.raises(UserError, match=pattern):
        validate(values)


def test_unknown_architecture_lists_the_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    values = compose()
    values["models"]["dcgan3"]["arch"] = "dcgan99"
    with pytest.raises(
        UserError, match=r"models\.dcgan3\.arch='dcgan99'.*known architectures: .*dcgan3, dcgan4"
    ):
        validate(values)


@pytest.mark.parametrize(
    ("family", "key", "value", "pattern"),
    [
        ("dcgan3", "width", 64, r"models\.dcgan3\.width=64 is invalid: dcgan3 has a fixed width"),
        ("sngan", "ema_decay", 1.0, r"models\.sngan\.ema_decay=1\.0 is invalid"),
        ("wgan1", "clip", -0.01, r"models\.wgan1\.clip=-0\.01 is invalid"),
        ("wgan_gp", "beta2", 1.5, r"models\.wgan_gp\.beta2=1\.5 is invalid"),
        ("wgan1", "optimizer", "sgd", r"models\.wgan1\.optimizer"),
        ("wgan1", "loss", "wasserstein_typo", r"models\.wgan1\.loss"),
        ("sngan", "steps", 0, r"models\.sngan\.steps=0 is invalid: must be > 0"),
        ("sngan", "diffaugment", "color,blur", r"models\.sngan\.diffaugment='color,blur' is invalid"),
    ],
)
def test_bad_family_settings_are_rejected(family, key, value, pattern, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(REPO)
    values = compose()
    values["models"][family][key] = value
    with pytest.raises(UserError, match=pattern):
        validate(values)


def test_every_family_can_be_picked_with_one_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    cfg = validate(compose(["families=[wgan_gp,sngan,cgan3]"]))
    assert cfg.families == ["wgan_gp", "sngan", "cgan3"]
    assert cfg.models["wgan_gp"].loss.value == "wasserstein_gp" and cfg.models["wgan_gp"].d_steps == 5
    # and a family can be given another architecture's config under a new name
    cfg = validate(compose(["+model@models.relu_b=dcgan_relu", "families=[relu_b]"]))
    assert cfg.models["relu_b"].arch == "dcgan_relu"
    assert len(validate(compose(["profile=gpu"])).families) == 17
