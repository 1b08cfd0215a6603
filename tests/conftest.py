import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from harness import seed_for_test  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_from_test_id() -> None:
    """Every test starts with nncore's and NumPy's global generators seeded from its id, so a
    failing test draws the same inputs when it runs again (harness.fresh_rng does the same for
    the generators it hands out)."""
    import numpy as np

    import nncore

    seed = seed_for_test("global")
    nncore.manual_seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (tests that call np.random.* get a per-test stream)
