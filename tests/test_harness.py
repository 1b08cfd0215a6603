"""The harness itself: without PyTorch an op's oracle check skips the test visibly (never passes
silently), and random inputs are a pure function of the test id."""

from __future__ import annotations

import os

import numpy as np
import pytest

import harness
import nncore.nn.functional as F
from harness import OpSpec, check_op, fresh_rng, seed_for_test


def test_oracle_check_skips_without_torch(monkeypatch) -> None:
    spec = OpSpec("relu", F.relu, lambda rng: [rng.standard_normal((3, 4))],
                  lambda x: np.maximum(x, 0), torch_fn=lambda x: x, id="relu-no-torch")
    monkeypatch.setattr(harness, "torch", None)
    with pytest.raises(pytest.skip.Exception, match="PyTorch is not installed"):
        check_op(spec)


def test_an_op_without_an_oracle_does_not_skip(monkeypatch) -> None:
    spec = OpSpec("relu", F.relu, lambda rng: [rng.standard_normal((3, 4))],
                  lambda x: np.maximum(x, 0), torch_fn=None, id="relu-no-oracle")
    monkeypatch.setattr(harness, "torch", None)
    check_op(spec)


def test_inputs_follow_the_test_id(monkeypatch) -> None:
    first, s1 = fresh_rng()
    second, s2 = fresh_rng()
    assert s1 != s2, "two draws in one test must differ"
    # NOTE: another test id gives other seeds; the same id (a rerun) the same ones.
    test_id = os.environ["PYTEST_CURRENT_TEST"]
    monkeypatch.setenv("PYTEST_CURRENT_TEST", test_id.replace("test_inputs", "test_other"))
    assert seed_for_test("0") != s1
    monkeypatch.setenv("PYTEST_CURRENT_TEST", test_id)
    assert seed_for_test("0") == s1 and seed_for_test("1") == s2
    monkeypatch.setenv("NNCORE_TEST_SEED", "7")
    assert seed_for_test("0") != s1
