"""Shared test set-up. The tests folder is importable (optax_oracle.py, the optax trajectory
helper of the optax-family tests); the ``oracle`` fixture imports the real Keras 3 (JAX
backend) and optax once per worker (oracles.py), for the tests that compare against them."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))


@pytest.fixture(scope="session")
def oracle():
    path = pathlib.Path(__file__).with_name("oracles.py")
    spec = importlib.util.spec_from_file_location("descentlab_test_oracles", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def registered():
    """``registered(cls, **how)`` registers an optimizer class for one test and unregisters it
    afterwards (the registry is process-wide)."""
    from descentlab import optim

    names: list[str] = []

    def add(cls, **how):
        optim.register(cls, **how)
        names.append(cls.name)
        return cls

    yield add
    for name in names:
        optim.unregister(name)
