"""Shared fixtures: the real Fashion-MNIST data and the deployed model, loaded once per session
because both cost seconds (TensorFlow import, 70k-image IDX decode)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from host.deployed import config_path, model_path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parents[1]
DEPLOYED_MODEL = model_path()  # host.deployed: the design the board ships
DEPLOYED_CONFIG = config_path()


@pytest.fixture(scope="session")
def fmnist():
    """The full Fashion-MNIST dataset (hw.data.Dataset) from the Debian package."""
    from hw.data import load_fashion_mnist

    return load_fashion_mnist()


@pytest.fixture(scope="session")
def fmnist_test_subset(fmnist):
    """The first 200 test images (uint8 NHWC) and labels: enough for bit-exactness checks, cheap to run."""
    return fmnist.x_test[:200], fmnist.y_test[:200]


@pytest.fixture(scope="session")
def deployed_model_path() -> Path:
    return DEPLOYED_MODEL


@pytest.fixture(scope="session")
def deployed_model(deployed_model_path):
    """The committed HGQ2 model (stand-in or trained: tests must not assume its accuracy)."""
    from hw.model import load_model

    return load_model(deployed_model_path)
