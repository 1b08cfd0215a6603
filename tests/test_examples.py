"""The examples/ scripts: each runs to its end in quick mode and prints its result line.

Each runs as a user runs it (``python examples/<name>.py``, a fresh process) with
``NNCORE_EXAMPLE_QUICK=1`` (a small subset, a few seconds), writing under a temp directory and
a temp HOME holding known peak figures (no machine measurement, nothing in ``~/.cache``).
Full-mode accuracies are not checked here (they take minutes); examples/README.md lists them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import nncore
from nncore import _C, profiler

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
# the nncore this test imports (the source tree, or site-packages when installed)
PYTHON_DIR = os.path.dirname(os.path.dirname(nncore.__file__))
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("[0-9][0-9]_*.py"))


def test_every_example_is_listed() -> None:
    assert SCRIPTS == ["01_mlp_from_scratch.py", "02_cnn_mnist.py", "03_lstm_mnist.py",
                       "04_transformer_mnist.py", "05_explanations.py",
                       "06_fairness_robustness_card.py", "07_profiling.py"]
    readme = (EXAMPLES / "README.md").read_text()
    assert all(name in readme for name in SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_is_a_percent_script(name: str) -> None:
    # jupytext's percent format: a markdown cell first, code cells opened by "# %%"
    lines = (EXAMPLES / name).read_text().splitlines()
    assert lines[0] == "# %% [markdown]" and lines[1].startswith("# # ")
    assert sum(line == "# %%" for line in lines) >= 3


def _run(name: str, tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    folder = home / ".cache" / "nncore"
    folder.mkdir(parents=True)
    peak = {"fma_gflops": {"1": 100.0, "2": 200.0}, "bandwidth_gbs": {"1": 10.0, "2": 20.0},
            "cpu": profiler._cpu_model(), "isa": _C.build_info()["isa"], "simd": "test",
            "measured_at": "test", "quick": True}
    (folder / "peak.json").write_text(json.dumps(peak))
    path = os.pathsep.join(p for p in (PYTHON_DIR, os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, HOME=str(home), PYTHONPATH=path, NNCORE_EXAMPLE_QUICK="1",
               NNCORE_EXAMPLE_OUT=str(tmp_path / "out"), MPLBACKEND="Agg")
    env.pop("NNCORE_PROFILE", None)
    proc = subprocess.run([sys.executable, str(EXAMPLES / name)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT "), proc.stdout[-2000:]
    return dict(re.findall(r"(\S+)=(\S+)", last))


@pytest.mark.parametrize("name", ["01_mlp_from_scratch.py", "02_cnn_mnist.py",
                                  "03_lstm_mnist.py", "04_transformer_mnist.py"])
def test_training_example_runs(name: str, tmp_path: Path) -> None:
    result = _run(name, tmp_path)
    assert result and all(0.0 <= float(v) <= 1.0 for v in result.values())


def test_explanations_example(tmp_path: Path) -> None:
    result = _run("05_explanations.py", tmp_path)
    assert 0.0 <= float(result["accuracy"]) <= 1.0
    maps = sorted(p.name for p in (tmp_path / "out" / "explanations").iterdir())
    assert maps == ["integrated_gradients.png", "kernel_shap.png", "lime.png", "saliency.png"]


def test_fairness_example_writes_the_model_card(tmp_path: Path) -> None:
    result = _run("06_fairness_robustness_card.py", tmp_path)
    assert float(result["dp_after"]) <= float(result["dp_before"])
    card = json.loads((tmp_path / "out" / "model_card" / "model_card.json").read_text())
    assert card["name"] == "loan-approval-mlp"
    assert card["mitigation"]["method"] == "threshold_optimizer" and card["robust_accuracy"]


def test_profiling_example_writes_trace_and_timeline(tmp_path: Path) -> None:
    result = _run("07_profiling.py", tmp_path)
    out = tmp_path / "out" / "profiling"
    events = [e for e in json.loads((out / "trace.json").read_text())["traceEvents"]
              if e["ph"] == "X"]
    assert int(result["events"]) == len(events) > 0
    assert (out / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
