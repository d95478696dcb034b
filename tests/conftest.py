"""Shared fixtures. ``oracle`` imports the real Keras 3 (JAX backend) and optax once per worker
(tests/oracles.py); tests that use it compare against the libraries themselves."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest


@pytest.fixture(scope="session")
def oracle():
    path = pathlib.Path(__file__).with_name("oracles.py")
    spec = importlib.util.spec_from_file_location("descentlab_test_oracles", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
