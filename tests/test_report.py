"""nncore.report: model cards and the HTML report of run directories the tests write."""

from __future__ import annotations

import json
import os
import re
import struct

import numpy as np
import pytest

import nncore as nc
from nncore import fairness, nn, report
from nncore.cli import main

EPOCHS = [
    {"epoch": 1, "loss": 0.9123, "val_loss": 0.8011, "accuracy": 0.7012, "val_accuracy": 0.7521},
    {"epoch": 2, "loss": 0.4567, "val_loss": 0.5012, "accuracy": 0.8534, "val_accuracy": 0.8642},
    {"epoch": 3, "loss": 0.3012, "val_loss": 0.4321, "accuracy": 0.9011, "val_accuracy": 0.8799},
]


def _write_safetensors(path, tensors: dict[str, np.ndarray]) -> None:
    """A minimal safetensors writer (the format: u64 header size, JSON header, raw data)."""
    header, offset, blobs = {}, 0, []
    for name, arr in tensors.items():
        raw = np.ascontiguousarray(arr, dtype=np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def _run_dir(tmp_path, predictions=True, partial_line=False):
    run = tmp_path / "run1"
    run.mkdir()
    lines = "".join(json.dumps(r) + "\n" for r in EPOCHS)
    if partial_line:
        lines += '{"epoch": 4, "lo'
    (run / "metrics.jsonl").write_text(lines)
    (run / "hparams.json").write_text(json.dumps({"name": "mnist-mlp", "lr": 0.1,
                                                  "batch_size": 64, "optimizer": "sgd"}))
    (run / "environment.json").write_text(json.dumps({"nncore": "0.1.0", "numpy": "2.4",
                                                      "threads": 2, "seed": 0}))
    nc.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10))
    _write_safetensors(run / "weights.safetensors", {k: v.data for k, v in
                                                   model.state_dict().items()})
    if predictions:
        rng = np.random.default_rng(0)
        y_true = rng.integers(0, 10, 200)
        y_pred = np.where(rng.random(200) < 0.8, y_true, rng.integers(0, 10, 200))
        np.savez(run / "predictions.npz", y_true=y_true, y_pred=y_pred)
    return run


def _data_uris(page: str) -> list[str]:
    return re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)


def test_cli_report_renders_a_full_run(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    run = _run_dir(tmp_path)
    os.makedirs(run / "explanations")
    from nncore.explain import render_attribution

    render_attribution(np.random.default_rng(0).normal(size=(8, 8)),
                       run / "explanations" / "digit7.png")
    assert main(["report", str(run)]) == 0
    assert "report.html" in capsys.readouterr().out
    page = (run / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert "<title>nncore report: mnist-mlp</title>" in page
    for heading in ("Metrics", "Learning curves", "Confusion matrix", "Saliency examples",
                    "Model weights", "Hyperparameters", "Environment"):
        assert f"<h2>{heading}</h2>" in page
    assert "0.8799" in page and "0.3012" in page  # final epoch's numbers
    assert "Best val_accuracy 0.8799 at epoch 3" in page
    n_params = 784 * 16 + 16 + 16 * 10 + 10
    assert f"{n_params:,} parameters" in page
    images = _data_uris(page)
    assert len(images) == 3  # learning curves, confusion matrix, the saved explanation
    import base64

    assert all(base64.b64decode(b).startswith(b"\x89PNG") for b in images)
    assert "No model_card.json" in page  # the missing card is said, not silently dropped
    assert "src=\"http" not in page and "<link" not in page  # self-contained


def test_report_tolerates_missing_files_and_a_cut_last_line(tmp_path):
    run = tmp_path / "sparse"
    run.mkdir()
    (run / "metrics.jsonl").write_text(json.dumps(EPOCHS[0]) + "\n" + '{"epoch": 2, "lo')
    page = report.build_report(run).read_text()
    assert "0.7521" in page
    for note in ("No predictions.npz", "No weights.safetensors", "No hparams.json",
                 "No environment.json", "saliency examples omitted"):
        assert note in page
    empty = tmp_path / "empty"
    empty.mkdir()
    page = report.build_report(empty, out=tmp_path / "e.html").read_text()
    assert "No metrics.jsonl" in page and "<h2>Metrics</h2>" not in page


def test_report_with_model_and_data_and_card(tmp_path):
    pytest.importorskip("matplotlib")
    run = _run_dir(tmp_path, predictions=False, partial_line=True)
    rng = np.random.default_rng(1)
    nc.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    x = rng.random((30, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, 30)
    sens = rng.integers(0, 2, 30)
    pred = model(nc.tensor(x)).detach().numpy().argmax(1)
    gm = fairness.group_metrics((y == 1).astype(int), (pred == 1).astype(int), {"site": sens})
    report.model_card(run, name="tiny-cnn", intended_use="Digit sorting demos only.",
                      data={"train": "synthetic 8x8", "fingerprint": report.data_fingerprint(x, y)},
                      model=model, metrics={"accuracy": 0.5}, group_metrics=gm,
                      robust_accuracy={0.0: 0.5, 0.1: 0.25},
                      limitations=["Synthetic data."])
    out = report.build_report(run, model=model, x=x, y=y, saliency_examples=2)
    page = out.read_text()
    assert "<h2>Confusion matrix</h2>" in page and "on 30 samples" in page
    assert "<h2>Saliency examples</h2>" in page and "<h2>Model card</h2>" in page
    assert "tiny-cnn" in page and "Digit sorting demos only." in page
    assert len(_data_uris(page)) == 1 + 1 + 2  # curves, confusion, two saliency maps


def test_model_card_markdown_and_json(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.random((10, 4)), rng.integers(0, 2, 10)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    gm = fairness.group_metrics(y, 1 - y, np.arange(10) % 2)
    card = report.model_card(tmp_path / "card", name="m1", intended_use="Tests.",
                             data={"fingerprint": report.data_fingerprint(x, y)}, model=model,
                             metrics={"accuracy": np.float64(0.9)}, group_metrics=gm,
                             robust_accuracy={0.0: 0.9, 0.05: 0.6},
                             explanations=[{"title": "sample 0", "method": "saliency",
                                            "image": "s0.png"}],
                             limitations="Small data.")
    md = (tmp_path / "card" / "model_card.md").read_text()
    js = json.loads((tmp_path / "card" / "model_card.json").read_text())
    assert js == json.loads(json.dumps(card))
    assert js["architecture"]["parameters"] == 4 * 3 + 3 + 3 * 2 + 2 == 23
    for title in ("# Model card: m1", "## Intended use", "## Data", "## Architecture",
                  "## Metrics", "## Per-group metrics", "## Robust accuracy",
                  "## Explanation examples", "## Limitations", "## Environment"):
        assert title in md
    assert "Parameters: 23" in md and "| accuracy | 0.9000 |" in md and "| 0.05 | 0.6000 |" in md
    assert "![sample 0](s0.png)" in md and "- Small data." in md
    assert js["data"]["fingerprint"] == report.data_fingerprint(x, y)
    assert report.data_fingerprint(x, y) != report.data_fingerprint(x, 1 - y)
    assert js["environment"]["nncore"] == nc.__version__
    assert sorted(os.listdir(tmp_path / "card")) == ["model_card.json", "model_card.md"]


def test_bad_input_writes_nothing(tmp_path, capsys):
    out = tmp_path / "c"
    with pytest.raises(ValueError, match="model_card: robust_accuracy needs eps >= 0"):
        report.model_card(out, name="m", robust_accuracy={-0.1: 0.5})
    with pytest.raises(ValueError, match="model_card: metrics must be a mapping"):
        report.model_card(out, name="m", metrics=[0.9])
    with pytest.raises(ValueError, match="model_card: name"):
        report.model_card(out, name="")
    with pytest.raises(TypeError, match="model_card: data holds a object"):
        report.model_card(out, name="m", data={"x": object()})
    assert not out.exists()
    run = tmp_path / "r"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"epoch": 1}\nnot json\n{"epoch": 3}\n')
    with pytest.raises(ValueError, match=r"metrics.jsonl line 2 is not JSON"):
        report.build_report(run)
    (run / "metrics.jsonl").write_text("")
    (run / "weights.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    with pytest.raises(ValueError, match="weights.safetensors is truncated"):
        report.build_report(run)
    assert sorted(os.listdir(run)) == ["metrics.jsonl", "weights.safetensors"]
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "run directory" in capsys.readouterr().err
