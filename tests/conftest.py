"""Shared fixtures: a tiny generated dataset and a validated config that trains in seconds."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from stages.core.schema import Config, compose, validate
from stages.data.dataset import ImageSet
from stages.data.shapes import make_shapes

REPO = Path(__file__).resolve().parents[1]


def script_module(name: str) -> ModuleType:
    """scripts/<name>.py as a module (scripts/ is not a package), to call its functions in-process."""
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before running it: dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def base_config() -> Config:
    """conf/ composed with the shapes data and the smoke profile, validated."""
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        return validate(compose(["data=shapes", "profile=smoke"]))
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="session")
def tiny_shapes() -> ImageSet:
    dataset = make_shapes(n_train=200, n_test=50, size=32, seed=3)
    split = dataset.splits["train"]
    return ImageSet(torch.from_numpy(split.images), torch.from_numpy(split.labels), dataset.classes)
