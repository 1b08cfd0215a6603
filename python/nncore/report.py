"""Model cards (Markdown and JSON) and the HTML report of a training run directory.

A run directory (written by ``nncore.train.fit(..., run_dir=...)``) may hold:
``metrics.jsonl`` (one JSON object per epoch: ``epoch``, ``loss``, ``val_loss``, ``accuracy``,
``val_accuracy``...), ``hparams.json``, ``environment.json``, ``weights.safetensors``,
``predictions.npz`` (arrays ``y_true``, ``y_pred``), ``model_card.json`` and PNG images under
``explanations/``. The report reads whatever is there: a missing file omits its section and the
page says so. Every file is written through a temporary name and ``os.replace``, after all of its
content is built, so a failure never leaves a partial file.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import os
import platform
import struct
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from nncore.tensor import Tensor

__all__ = ["build_report", "data_fingerprint", "environment_info", "model_card"]

CARD_SECTIONS = ("intended_use", "data", "architecture", "metrics", "group_metrics",
                 "mitigation", "robust_accuracy", "explanations", "limitations", "environment")


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def data_fingerprint(*arrays: Any) -> str:
    """SHA-256 over the shapes, dtypes and bytes of ``arrays`` (Tensors or arrays), in order."""
    h = hashlib.sha256()
    for a in arrays:
        arr = np.ascontiguousarray(a._array if isinstance(a, Tensor) else np.asarray(a))
        h.update(f"{arr.dtype.str}{arr.shape};".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def environment_info() -> dict[str, Any]:
    """nncore, NumPy and Python versions, build flags, SIMD level, loaded ISA module and thread
    count."""
    import nncore

    info = nncore._C.build_info()
    return {"nncore": info["version"], "numpy": np.__version__,
            "python": sys.version.split()[0], "platform": platform.platform(),
            "compiler": info["compiler"], "flags": info["flags"].strip(), "simd": info["simd"],
            "isa": info.get("isa"), "native_module": nncore._isa.loaded().get("module"),
            "threads": nncore.get_num_threads()}


def _jsonable(name: str, value: Any) -> Any:
    """``value`` with arrays, NumPy scalars and GroupMetrics made JSON-ready."""
    if hasattr(value, "to_dict") and callable(value.to_dict):
        value = value.to_dict()
    if isinstance(value, Tensor):
        value = value._array
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _jsonable(name, v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(name, v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"model_card: {name} holds a {type(value).__name__}, which has no JSON form")


def _mapping(name: str, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    value = value.to_dict() if hasattr(value, "to_dict") else value
    if not isinstance(value, dict):
        raise ValueError(f"model_card: {name} must be a mapping, got {type(value).__name__}")
    return _jsonable(name, value)


def model_card(out_dir: str | os.PathLike, *, name: str, intended_use: str = "",
               data: dict[str, Any] | None = None, model: Any = None,
               metrics: dict[str, Any] | None = None, group_metrics: Any = None,
               robust_accuracy: dict[float, float] | None = None,
               explanations: list[dict[str, Any]] | None = None,
               limitations: str | list[str] | None = None,
               environment: dict[str, Any] | None = None,
               mitigation: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``model_card.md`` and ``model_card.json`` into ``out_dir``.

    Args:
        out_dir: directory (created if needed).
        name: the model's name.
        intended_use: who should use it for what, and what it is not for.
        data: description of the data, e.g. ``{"train": "MNIST 60k", "fingerprint":
            data_fingerprint(x, y)}``.
        model: an nncore Module: its ``repr`` and parameter count are recorded.
        metrics: ``{name: value}`` on held-out data.
        group_metrics: a ``fairness.GroupMetrics`` or its ``to_dict()``.
        robust_accuracy: ``{eps: accuracy}`` from ``robust.robust_accuracy``.
        explanations: ``[{"title": ..., "method": ..., "image": "path.png", ...}]``.
        limitations: known limitations (text or a list of items).
        environment: versions and build; default ``environment_info()``.
        mitigation: a bias-mitigation record (``fairness.audit_mitigation``, a
            ``MitigationAudit.record``, or ``history.mitigation`` of ``fit``): the method and
            the metrics before and after it.

    Returns:
        The card as a dict (the JSON file's content).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"model_card: name must be a non-empty string, got {name!r}")
    card: dict[str, Any] = {"name": name, "intended_use": str(intended_use),
                            "data": _mapping("data", data)}
    if model is not None:
        params = list(model.parameters()) if hasattr(model, "parameters") else None
        if params is None:
            raise ValueError(f"model_card: model must be an nncore Module, got "
                             f"{type(model).__name__}")
        card["architecture"] = {"summary": repr(model),
                                "parameters": int(sum(p.numel() for p in params))}
    else:
        card["architecture"] = None
    card["metrics"] = _mapping("metrics", metrics)
    card["group_metrics"] = _mapping("group_metrics", group_metrics)
    card["mitigation"] = _mitigation(mitigation)
    if robust_accuracy is not None:
        ra = _mapping("robust_accuracy", robust_accuracy)
        for eps, acc in ra.items():
            if float(eps) < 0 or not 0.0 <= float(acc) <= 1.0:
                raise ValueError(f"model_card: robust_accuracy needs eps >= 0 and accuracy in "
                                 f"[0, 1], got {eps}: {acc}")
        card["robust_accuracy"] = ra
    else:
        card["robust_accuracy"] = None
    if explanations is not None and (not isinstance(explanations, list) or
                                     not all(isinstance(e, dict) for e in explanations)):
        raise ValueError("model_card: explanations must be a list of dicts "
                         "({'title', 'method', 'image', ...})")
    card["explanations"] = _jsonable("explanations", explanations)
    if isinstance(limitations, str):
        limitations = [limitations]
    card["limitations"] = _jsonable("limitations", limitations)
    card["environment"] = _mapping("environment", environment or environment_info())
    md = card_markdown(card)
    text = json.dumps(card, indent=2, allow_nan=True)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_atomic(out / "model_card.json", text)
    _write_atomic(out / "model_card.md", md)
    return card


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if math.isfinite(v) and abs(v) < 1e6 else f"{v:.4g}"
    return str(v)


def card_markdown(card: dict[str, Any]) -> str:
    """The Markdown form of a model card dict."""
    lines = [f"# Model card: {card['name']}", ""]

    def section(title: str) -> None:
        lines.extend([f"## {title}", ""])

    section("Intended use")
    lines += [card.get("intended_use") or "_Not stated._", ""]
    section("Data")
    for k, v in (card.get("data") or {}).items():
        lines.append(f"- **{k}**: {_fmt(v)}")
    lines += ["" if card.get("data") else "_Not stated._", ""]
    section("Architecture")
    arch = card.get("architecture")
    if arch:
        lines += [f"Parameters: {arch['parameters']:,}", "", "```", arch["summary"], "```", ""]
    else:
        lines += ["_Not recorded._", ""]
    section("Metrics")
    lines += _md_table(card.get("metrics"), "metric") + [""]
    section("Per-group metrics")
    gm = card.get("group_metrics")
    if gm and "by_group" in gm:
        cols = list(next(iter(gm["by_group"].values()), {}))
        lines.append("| group | " + " | ".join(cols) + " |")
        lines.append("|---" * (len(cols) + 1) + "|")
        for g, row in gm["by_group"].items():
            lines.append(f"| {g} | " + " | ".join(_fmt(row[c]) for c in cols) + " |")
    else:
        lines += _md_table(gm, "group")
    lines.append("")
    section("Bias mitigation")
    lines += _mitigation_md(card.get("mitigation")) + [""]
    section("Robust accuracy")
    lines += _md_table(card.get("robust_accuracy"), "epsilon") + [""]
    section("Explanation examples")
    for e in card.get("explanations") or []:
        title = e.get("title", "example")
        lines.append(f"- **{title}**: " + ", ".join(f"{k}: {_fmt(v)}" for k, v in e.items()
                                                    if k not in ("title", "image")))
        if e.get("image"):
            lines.append(f"  ![{title}]({e['image']})")
    lines += ["" if card.get("explanations") else "_None._", ""]
    section("Limitations")
    lines += [f"- {item}" for item in card.get("limitations") or []] or ["_Not stated._"]
    lines.append("")
    section("Environment")
    lines += _md_table(card.get("environment"), "key") + [""]
    return "\n".join(lines)


def _mitigation(record: Any) -> dict[str, Any] | None:
    if record is None:
        return None
    record = getattr(record, "record", record)
    if not isinstance(record, dict) or not {"method", "before", "after"} <= set(record):
        raise ValueError("model_card: mitigation must be a record with 'method', 'before' and "
                         "'after' (fairness.audit_mitigation)")
    return _jsonable("mitigation", record)


MITIGATION_ROWS = ("accuracy", "selection_rate", "demographic_parity_difference",
                   "equalized_odds_difference", "equal_opportunity_difference",
                   "disparate_impact")


def mitigation_rows(record: dict[str, Any]) -> list[list[Any]]:
    """``[metric, before, after, change]`` rows of a mitigation record, then per-group
    selection rates."""
    before, after = record["before"], record["after"]
    rows = [[m, before.get(m), after.get(m),
             after[m] - before[m] if isinstance(before.get(m), (int, float)) and
             isinstance(after.get(m), (int, float)) else None]
            for m in MITIGATION_ROWS if m in before or m in after]
    for g in before.get("by_group", {}):
        b = before["by_group"][g].get("selection_rate")
        a = after.get("by_group", {}).get(g, {}).get("selection_rate")
        rows.append([f"selection_rate[{g}]", b, a, None if a is None or b is None else a - b])
    return rows


def _mitigation_md(record: dict[str, Any] | None) -> list[str]:
    if not record:
        return ["_None applied._"]
    lines = [f"Method: **{record['method']}**" + (f" (constraint: {record['constraint']})"
                                                  if record.get("constraint") else ""), ""]
    if record.get("params"):
        lines += [", ".join(f"{k}={_fmt(v)}" for k, v in record["params"].items()), ""]
    lines += ["| metric | before | after | change |", "|---|---|---|---|"]
    lines += [f"| {m} | {_fmt(b)} | {_fmt(a)} | {_fmt(c) if c is not None else '-'} |"
              for m, b, a, c in mitigation_rows(record)]
    if "accuracy_cost" in record:
        lines += ["", f"Accuracy cost: {_fmt(record['accuracy_cost'])} on "
                      f"{record.get('samples', '?')} held-out samples."]
    return lines


def _md_table(d: dict[str, Any] | None, key: str) -> list[str]:
    if not d:
        return ["_Not measured._"]
    return [f"| {key} | value |", "|---|---|", *(f"| {k} | {_fmt(v)} |" for k, v in d.items())]


# ---- run directory ------------------------------------------------------------------------


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Epoch records of a ``metrics.jsonl``; a cut last line (a run still writing) is
    skipped, a malformed line elsewhere raises naming the line."""
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            if i == len(lines):
                break
            raise ValueError(f"report: {path} line {i} is not JSON ({e})") from None
        if not isinstance(row, dict):
            raise ValueError(f"report: {path} line {i} is not a JSON object")
        rows.append(row)
    return rows


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"report: {path} is not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise ValueError(f"report: {path} holds a {type(value).__name__}, expected an object")
    return value


def safetensors_summary(path: Path) -> dict[str, Any]:
    """Tensor names, dtypes and shapes from a safetensors header, and the parameter count."""
    raw = path.read_bytes()
    if len(raw) < 8:
        raise ValueError(f"report: {path} is too short to be a safetensors file")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError(f"report: {path} is truncated (header of {n} bytes, file of "
                         f"{len(raw)})")
    try:
        header = json.loads(raw[8:8 + n])
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"report: {path} has a corrupt header ({e})") from None
    meta = header.pop("__metadata__", None) or {}
    tensors = {k: (v["dtype"], v["shape"]) for k, v in header.items()}
    count = sum(int(np.prod(s)) for _, s in tensors.values())
    return {"tensors": tensors, "parameters": count, "metadata": meta, "bytes": len(raw)}


def _png_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _figure() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return Figure


def _fig_png(fig: Any) -> bytes:
    import io

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _curves_png(rows: list[dict[str, Any]]) -> bytes | None:
    Figure = _figure()  # noqa: N806
    if Figure is None:
        return None
    epochs = [r.get("epoch", i + 1) for i, r in enumerate(rows)]
    panels = [[k for k in ("loss", "val_loss") if any(k in r for r in rows)],
              [k for k in ("accuracy", "val_accuracy") if any(k in r for r in rows)]]
    panels = [p for p in panels if p]
    if not panels:
        return None
    fig = Figure(figsize=(5 * len(panels), 3.5), dpi=90)
    for j, keys in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), j + 1)
        for k in keys:
            pts = [(e, r[k]) for e, r in zip(epochs, rows) if isinstance(r.get(k), (int, float))]
            if pts:
                ax.plot(*zip(*pts), marker="o", label=k)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend()
        ax.grid(alpha=0.3)
    return _fig_png(fig)


def _confusion_png(cm: np.ndarray, labels: list[Any]) -> bytes | None:
    Figure = _figure()  # noqa: N806
    if Figure is None:
        return None
    size = 2 + 0.45 * len(labels)
    fig = Figure(figsize=(size, size), dpi=90)
    ax = fig.add_subplot()
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), [str(v) for v in labels])
    ax.set_yticks(range(len(labels)), [str(v) for v in labels])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(labels) <= 12:
        top = cm.max() or 1
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if cm[i, j] > top / 2 else "black")
    return _fig_png(fig)


def _table(rows: list[list[Any]], head: list[str]) -> str:
    h = "".join(f"<th>{html.escape(str(c))}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{html.escape(alt)}">'


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222;
padding:0 1em}h1{border-bottom:2px solid #444}h2{margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:right}th{background:#f3f3f3}pre{background:#f6f6f6;padding:.6em;overflow:auto}
img{max-width:100%;margin:.3em}.note{color:#8a5a00;background:#fff6e0;padding:.4em .8em}"""


def _saliency_section(model: Any, x: np.ndarray, count: int) -> list[str]:
    from nncore.explain import attribution_png, saliency

    xs = x[:count]
    sal = saliency(model, xs, abs=True)
    parts = []
    for i in range(len(xs)):
        attr, img = sal[i], xs[i]
        if attr.ndim == 1:
            side = int(round(math.sqrt(attr.size)))
            if side * side == attr.size:
                attr, img = attr.reshape(side, side), img.reshape(side, side)
        parts.append(_img(_png_uri(attribution_png(attr, image=img if attr.ndim > 1 else None,
                                                   title=f"sample {i}")), f"saliency {i}"))
    return parts


def _metrics_section(run: Path, plots: bool, body: list[str], notes: list[str]) -> None:
    """The final metrics and the learning curves, from metrics.jsonl."""
    mpath = run / "metrics.jsonl"
    if mpath.is_file():
        rows = read_metrics(mpath)
        keys = sorted({k for r in rows for k in r if k != "epoch"},
                      key=lambda k: (k.startswith("val_"), k))
        body.append("<h2>Metrics</h2>")
        if rows:
            last = rows[-1]
            summary = [[k, last[k]] for k in keys if k in last]
            body.append(f"<p>Final epoch {html.escape(str(last.get('epoch', len(rows))))}:</p>")
            body.append(_table(summary, ["metric", "value"]))
            if any("val_accuracy" in r for r in rows):
                best = max((r for r in rows if "val_accuracy" in r),
                           key=lambda r: r["val_accuracy"])
                body.append(f"<p>Best val_accuracy {_fmt(best['val_accuracy'])} at epoch "
                            f"{html.escape(str(best.get('epoch')))}.</p>")
            body.append("<h2>Learning curves</h2>")
            png = _curves_png(rows) if plots else None
            if png:
                body.append(_img(_png_uri(png), "learning curves"))
            body.append(_table([[r.get("epoch", i + 1)] + [r.get(k, "") for k in keys]
                                for i, r in enumerate(rows)], ["epoch", *keys]))
        else:
            notes.append(f"{mpath.name} holds no complete epoch: no learning curves.")
    else:
        notes.append("No metrics.jsonl: metrics and learning curves omitted.")


def _confusion_section(run: Path, model: Any, xa: Any, ya: Any, plots: bool,
                       body: list[str], notes: list[str]) -> None:
    """The confusion matrix: of the recorded predictions, else of the given model on the given
    data."""
    from nncore import metrics as nc_metrics

    y_true = y_pred = None
    ppath = run / "predictions.npz"
    if ppath.is_file():
        with np.load(ppath) as pred:
            if "y_true" not in pred or "y_pred" not in pred:
                raise ValueError(f"report: {ppath} must hold arrays 'y_true' and 'y_pred', "
                                 f"has {sorted(pred.files)}")
            y_true, y_pred = pred["y_true"], pred["y_pred"]
    elif model is not None and ya is not None:
        from nncore.explain._common import numpy_function

        y_true, y_pred = ya, numpy_function("report", model)(xa).argmax(axis=1)
    if y_true is not None:
        labels = np.union1d(y_true, y_pred)
        cm = nc_metrics.confusion_matrix(y_true, y_pred, labels=labels)
        body.append("<h2>Confusion matrix</h2>")
        body.append(f"<p>Accuracy {_fmt(nc_metrics.accuracy(y_true, y_pred))} on "
                    f"{len(y_true):,} samples.</p>")
        png = _confusion_png(cm, labels.tolist()) if plots else None
        body.append(_img(_png_uri(png), "confusion matrix") if png else
                    _table([[lab, *row] for lab, row in zip(labels.tolist(), cm.tolist())],
                           ["true \\ predicted", *labels.tolist()]))
    else:
        notes.append("No predictions.npz and no model with data: confusion matrix omitted.")


def _explanations_section(run: Path, model: Any, xa: Any, plots: bool, examples: int,
                          body: list[str], notes: list[str]) -> None:
    """Saliency of the given model, and the images the run saved."""
    images = []
    if model is not None and xa is not None and plots and examples > 0:
        images += _saliency_section(model, xa, examples)
    saved = sorted((run / "explanations").glob("*.png")) if (run / "explanations").is_dir() \
        else []
    images += [_img(_png_uri(p.read_bytes()), p.stem) for p in saved]
    if images:
        body.append("<h2>Saliency examples</h2>")
        body.extend(images)
    else:
        notes.append("No model with inputs and no explanations/*.png: saliency examples "
                     "omitted.")


def _weights_section(run: Path, body: list[str], notes: list[str]) -> None:
    """A summary of weights.safetensors."""
    wpath = run / "weights.safetensors"
    if wpath.is_file():
        info = safetensors_summary(wpath)
        body.append("<h2>Model weights</h2>")
        body.append(f"<p>{wpath.name}: {info['parameters']:,} parameters in "
                    f"{len(info['tensors'])} tensors, {info['bytes']:,} bytes.</p>")
        body.append(_table([[k, d, "x".join(map(str, s))] for k, (d, s) in
                            info["tensors"].items()], ["tensor", "dtype", "shape"]))
    else:
        notes.append("No weights.safetensors: weights summary omitted.")


def _settings_section(heading: str, data: dict | None, fname: str, body: list[str],
                      notes: list[str]) -> None:
    """A key-value table of hparams.json or environment.json."""
    if data is not None:
        body.append(f"<h2>{heading}</h2>")
        body.append(_table([[k, json.dumps(v) if isinstance(v, (dict, list)) else v]
                            for k, v in data.items()], ["key", "value"]))
    else:
        notes.append(f"No {fname}: {heading.lower()} omitted.")


def _mitigation_section(run: Path, card: dict | None, body: list[str], notes: list[str]) -> None:
    """The bias-mitigation record of the run (mitigation.json, or the model card's)."""
    mit = _read_json(run / "mitigation.json") if (run / "mitigation.json").is_file() else \
        (card or {}).get("mitigation")
    if mit:
        body.append("<h2>Bias mitigation</h2>")
        body.append(f"<p>Method: {html.escape(str(mit.get('method')))}"
                    + (f", constraint {html.escape(str(mit['constraint']))}"
                       if mit.get("constraint") else "")
                    + (f"; accuracy cost {_fmt(mit['accuracy_cost'])}"
                       if isinstance(mit.get("accuracy_cost"), (int, float)) else "")
                    + ".</p>")
        body.append(_table(mitigation_rows(mit), ["metric", "before", "after", "change"]))
    else:
        notes.append("No mitigation.json: no bias mitigation recorded.")


def _card_section(card: dict | None, body: list[str], notes: list[str]) -> None:
    """The model card, as Markdown."""
    if card is not None:
        body.append("<h2>Model card</h2>")
        body.append(f"<pre>{html.escape(card_markdown(card))}</pre>")
    else:
        notes.append("No model_card.json: model card omitted.")


def build_report(run_dir: str | os.PathLike, out: str | os.PathLike | None = None,
                 model: Any = None, x: Any = None, y: Any = None,
                 saliency_examples: int = 4) -> Path:
    """Write a self-contained HTML report of a run directory.

    Args:
        run_dir: the run directory (see the module docstring for the files it may hold).
        out: output file; default ``<run_dir>/report.html``.
        model: optional nncore classifier; with ``x`` (and ``y``) it adds saliency examples
            and, when the run has no ``predictions.npz``, the confusion matrix.
        x: inputs ``(N, ...)`` for the model. y: labels ``(N,)``.
        saliency_examples: how many inputs get a saliency map.

    Returns:
        The path of the HTML file. Images are inline base64 PNGs (when matplotlib is
        installed; otherwise tables only, and the page says so).
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise ValueError(f"report: run directory {run} does not exist")
    xa = None if x is None else np.asarray(x._array if isinstance(x, Tensor) else x)
    ya = None if y is None else np.asarray(y._array if isinstance(y, Tensor) else y)
    if xa is not None and ya is not None and len(xa) != len(ya):
        raise ValueError(f"report: x has {len(xa)} samples but y has {len(ya)}")
    if model is not None and xa is None:
        raise ValueError("report: a model needs inputs x (and labels y) to be evaluated")
    plots = _figure() is not None
    notes: list[str] = []
    body: list[str] = []
    hparams = _read_json(run / "hparams.json") if (run / "hparams.json").is_file() else None
    env = _read_json(run / "environment.json") if (run / "environment.json").is_file() else None
    card = _read_json(run / "model_card.json") if (run / "model_card.json").is_file() else None
    title = (card or {}).get("name") or (hparams or {}).get("name") or run.resolve().name
    if not plots:
        notes.append("matplotlib is not installed: figures are omitted, tables remain.")

    _metrics_section(run, plots, body, notes)
    _confusion_section(run, model, xa, ya, plots, body, notes)
    _explanations_section(run, model, xa, plots, saliency_examples, body, notes)
    _weights_section(run, body, notes)
    for heading, data, fname in (("Hyperparameters", hparams, "hparams.json"),
                                 ("Environment", env, "environment.json")):
        _settings_section(heading, data, fname, body, notes)
    _mitigation_section(run, card, body, notes)
    _card_section(card, body, notes)
    note_html = "".join(f'<p class="note">{html.escape(n)}</p>' for n in notes)
    page = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>nncore report: {html.escape(str(title))}</title><style>{_CSS}</style>"
            f"</head><body><h1>nncore report: {html.escape(str(title))}</h1>"
            f"<p>Run directory: <code>{html.escape(str(run.resolve()))}</code></p>"
            f"{note_html}{''.join(body)}</body></html>\n")
    target = Path(out) if out is not None else run / "report.html"
    _write_atomic(target, page)
    return target
