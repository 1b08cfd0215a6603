"""Experiment records: what ``fit(..., run_dir=...)`` writes, and ``nncore runs`` reads.

A run directory holds (each file written atomically, the metrics after every epoch):

- ``run.json``: status (running, completed, stopped early, failed + error), times, epochs,
  final and best values;
- ``hparams.json``: optimizer and its groups' hyperparameters, scheduler, loss, epochs, batch
  size, plus the caller's ``hparams``;
- ``model.json``: class, parameter count and parameters per layer; ``model.txt``: the repr;
- ``metrics.jsonl`` and ``metrics.csv``: one row per epoch;
- ``environment.json``: nncore/NumPy/Python versions, build flags, SIMD level, threads, seed,
  git commit, command line;
- ``data.json``: SHA-256 fingerprint of the training data;
- ``mitigation.json``: with ``fit(..., mitigation=...)``, the bias-mitigation audit (method,
  fairness metrics before and after, accuracy cost);
- ``weights.safetensors``: the final weights; ``kernels.txt`` and ``kernels.json``: a profiler's
  kernel table and its rows, when one is given.
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import io
import json
import math
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from nncore.serialization import atomic_write, save_safetensors

__all__ = ["RunRecorder", "compare_runs", "dataset_fingerprint", "environment", "find_runs",
           "list_runs", "model_summary", "read_run", "show_run"]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _write_text(path: str, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _write_json(path: str, obj: Any) -> None:
    _write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return repr(obj)


# ---- facts about the run ----
def dataset_fingerprint(dataset: Any) -> dict[str, Any]:
    """SHA-256 over a dataset's arrays (dtype, shape and bytes of each), in sample order.

    Works on array-backed datasets (``TensorDataset``, ``MNIST``, the synthetic sets, and
    ``Subset``s of them: the subset's indices are hashed too). Other datasets get
    ``{"sha256": None, "reason": ...}`` rather than a slow pass over every sample.

    Returns:
        ``{"sha256", "samples", "arrays": [{"dtype", "shape"}]}``.
    """
    from nncore.data.loader import _array_source

    source = _array_source(dataset)
    if source is None:
        return {"sha256": None, "samples": len(dataset),
                "reason": f"{type(dataset).__name__} is not array-backed"}
    arrays, index_map = source
    h = hashlib.sha256()
    for a in arrays:
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(np.ascontiguousarray(a)).cast("B"))
    if index_map is not None:
        h.update(b"indices")
        h.update(np.ascontiguousarray(index_map, dtype="<i8").tobytes())
    return {"sha256": h.hexdigest(), "samples": len(dataset),
            "arrays": [{"dtype": str(a.dtype), "shape": list(a.shape)} for a in arrays]}


def _git_commit() -> dict[str, Any] | None:
    """Commit and dirty flag of the repository the process runs in; None outside one."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=5, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())}


def environment() -> dict[str, Any]:
    """Versions, build flags, SIMD level, threads, seed and git commit of this process."""
    import nncore
    from nncore import random as _random

    info = nncore._C.build_info()
    return {
        "nncore": info["version"], "numpy": np.__version__,
        "python": sys.version.split()[0], "platform": platform.platform(),
        "compiler": info.get("compiler"), "flags": str(info.get("flags", "")).strip(),
        "simd": info.get("simd"), "eigen_simd": info.get("eigen_simd"),
        "isa": info.get("isa"), "native_module": nncore._isa.loaded().get("module"),
        "target": info.get("target"),
        "eigen": info.get("eigen"), "openmp": info.get("openmp"),
        "threads": nncore.get_num_threads(), "seed": _random.initial_seed(),
        "git": _git_commit(), "argv": list(sys.argv),
    }


def model_summary(model: Any) -> dict[str, Any]:
    """Class, parameter counts and the parameters of every layer that owns some."""
    layers = []
    for name, mod in model.named_modules():
        own = [(n, p) for n, p in mod._parameters.items() if p is not None]
        if own:
            layers.append({"name": name or "(root)", "type": type(mod).__name__,
                           "params": sum(p.numel() for _, p in own),
                           "shapes": {n: list(p.shape) for n, p in own}})
    params = list(model.parameters())
    return {"class": type(model).__name__, "params": sum(p.numel() for p in params),
            "trainable": sum(p.numel() for p in params if p.requires_grad), "layers": layers}


def _hparams(model: Any, optimizer: Any, scheduler: Any, loader: Any, loss_fn: Any,
             epochs: int, extra: dict[str, Any], user: dict[str, Any] | None) -> dict[str, Any]:
    groups = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    sched = None
    if scheduler is not None:
        sched = {"class": type(scheduler).__name__,
                 **{k: v for k, v in vars(scheduler).items()
                    if not k.startswith("_") and k != "last_epoch"
                    and isinstance(v, (int, float, str, bool))}}
    return {
        "epochs": epochs, "batch_size": getattr(loader, "batch_size", None),
        "shuffle": getattr(loader, "shuffle", None), "loader_seed": getattr(loader, "seed", None),
        "optimizer": {"class": type(optimizer).__name__, "param_groups": groups},
        "scheduler": sched, "loss": repr(loss_fn), **extra, **(user or {}),
    }


class RunRecorder:
    """Writes a run directory for ``fit`` (see the module docstring). Used by ``fit``."""

    def __init__(self, run_dir: str | os.PathLike, model: Any, optimizer: Any, scheduler: Any,
                 train_loader: Any, loss_fn: Any, epochs: int,
                 hparams: dict[str, Any] | None = None, extra: dict[str, Any] | None = None
                 ) -> None:
        if hparams is not None and not isinstance(hparams, dict):
            raise TypeError(f"fit: hparams must be a dict, got {type(hparams).__name__}")
        self.dir = os.fspath(run_dir)
        os.makedirs(self.dir, exist_ok=True)
        self.model = model
        self.started = _now()
        self.epochs = epochs
        _write_json(self._p("hparams.json"), _hparams(model, optimizer, scheduler, train_loader,
                                                      loss_fn, epochs, extra or {}, hparams))
        _write_json(self._p("model.json"), model_summary(model))
        _write_text(self._p("model.txt"), repr(model) + "\n")
        _write_json(self._p("environment.json"), environment())
        dataset = getattr(train_loader, "dataset", None)
        data = dataset_fingerprint(dataset) if dataset is not None else {"sha256": None}
        _write_json(self._p("data.json"), data)
        self._status("running", None)

    def _p(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def _status(self, status: str, history: Any, error: str | None = None) -> None:
        rows = history.rows() if history is not None else []
        last = rows[-1] if rows else {}
        best = {}
        for key in (history.history if history is not None else {}):
            values = [v for v in history.history[key] if not math.isnan(v)]
            if values and key not in ("time", "samples_per_s") and not key.startswith("lr"):
                higher = any(s in key for s in ("acc", "f1", "precision", "recall", "r2"))
                best[key] = max(values) if higher else min(values)
        _write_json(self._p("run.json"), {
            "name": os.path.basename(os.path.abspath(self.dir)), "status": status,
            "error": error, "started": self.started,
            "finished": None if status == "running" else _now(),
            "epochs_done": len(rows), "epochs": self.epochs,
            "final": {k: v for k, v in last.items() if k != "epoch"}, "best": best,
        })

    def epoch_end(self, history: Any) -> None:
        """Rewrite the per-epoch metrics (JSON lines and CSV) from the whole history."""
        rows = history.rows()
        _write_text(self._p("metrics.jsonl"),
                    "".join(json.dumps(r, default=_json_default) + "\n" for r in rows))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["epoch"],
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        _write_text(self._p("metrics.csv"), buf.getvalue())
        self._status("running", history)

    def finish(self, history: Any, status: str, profiler: Any = None,
               error: str | None = None) -> None:
        """Final weights, the profiler's kernel table, and the final status."""
        if history.epoch:
            self.epoch_end(history)
        save_safetensors(self.model.state_dict(), self._p("weights.safetensors"),
                         metadata={"run": os.path.basename(os.path.abspath(self.dir)),
                                   "status": status})
        if profiler is not None:
            summary = getattr(profiler, "summary", None)
            if not callable(summary):
                raise TypeError(f"fit: profiler must have a summary() method, got "
                                f"{type(profiler).__name__}")
            # The printed table when the profiler has one (nncore.profiler), and the rows as data.
            table = getattr(profiler, "table", None)
            text = table(file=io.StringIO()) if callable(table) else str(summary())
            _write_text(self._p("kernels.txt"), text.rstrip() + "\n")
            _write_json(self._p("kernels.json"), summary())
        self._status(status, history, error)


# ---- reading runs ----
def read_run(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The JSON files of a run directory, merged: ``run``, ``hparams``, ``model``,
    ``environment``, ``data``, ``mitigation`` and ``metrics`` (list of rows).

    Raises:
        ValueError: when ``run_dir`` has no ``run.json``.
    """
    d = os.fspath(run_dir)
    if not os.path.isfile(os.path.join(d, "run.json")):
        raise ValueError(f"runs: {d!r} is not a run directory (no run.json)")
    out: dict[str, Any] = {"dir": d}
    for name in ("run", "hparams", "model", "environment", "data", "mitigation"):
        p = os.path.join(d, f"{name}.json")
        out[name] = json.loads(_read_text(p)) if os.path.isfile(p) else {}
    p = os.path.join(d, "metrics.jsonl")
    out["metrics"] = ([json.loads(line) for line in _read_text(p).splitlines() if line]
                      if os.path.isfile(p) else [])
    return out


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def find_runs(paths: Sequence[str | os.PathLike]) -> list[str]:
    """Run directories among ``paths`` and their immediate subfolders, sorted by name."""
    found = []
    for p in map(os.fspath, paths):
        if os.path.isfile(os.path.join(p, "run.json")):
            found.append(p)
        elif os.path.isdir(p):
            found.extend(sorted(os.path.join(p, c) for c in os.listdir(p)
                                if os.path.isfile(os.path.join(p, c, "run.json"))))
        else:
            raise ValueError(f"runs: {p!r} is neither a run directory nor a folder of runs")
    return found


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if v is None:
        return "-"
    return str(v)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    cells = [header] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def list_runs(paths: Sequence[str | os.PathLike]) -> str:
    """One line per run: name, status, epochs, final loss and validation values, start."""
    rows = []
    for d in find_runs(paths):
        r = read_run(d)
        run, final = r["run"], r["run"].get("final", {})
        rows.append([d, run.get("status"), f"{run.get('epochs_done')}/{run.get('epochs')}",
                     final.get("loss"), final.get("val_loss"),
                     final.get("val_accuracy", final.get("accuracy")), run.get("started")])
    if not rows:
        return "no runs found"
    return _table(["run", "status", "epochs", "loss", "val_loss", "accuracy", "started"], rows)


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    if isinstance(obj, list) and obj and all(isinstance(v, dict) for v in obj):
        out = {}
        for i, v in enumerate(obj):
            out.update(_flatten(v, f"{prefix}{i}."))
        return out
    return {prefix[:-1]: obj}


def show_run(run_dir: str | os.PathLike) -> str:
    """A run's status, hyperparameters, model, environment, data and metrics table."""
    r = read_run(run_dir)
    run = r["run"]
    lines = [f"run {r['dir']}: {run.get('status')}, {run.get('epochs_done')}/"
             f"{run.get('epochs')} epochs, started {run.get('started')}"]
    if run.get("error"):
        lines.append(f"error: {run['error']}")
    for title, key in (("hyperparameters", "hparams"), ("environment", "environment"),
                       ("data", "data")):
        lines.append(f"\n{title}:")
        lines += [f"  {k}: {_fmt(v)}" for k, v in _flatten(r[key]).items()]
    m = r["model"]
    if m:
        lines.append(f"\nmodel: {m.get('class')}, {m.get('params', 0):,} parameters")
        lines += [f"  {layer['name']:<20} {layer['type']:<16} {layer['params']:>10,}"
                  for layer in m.get("layers", [])]
    if r["mitigation"]:
        from nncore.report import mitigation_rows

        mit = r["mitigation"]
        lines.append(f"\nbias mitigation: {mit.get('method')}, accuracy cost "
                     f"{_fmt(mit.get('accuracy_cost'))}")
        lines.append(_table(["metric", "before", "after", "change"], mitigation_rows(mit)))
    if r["metrics"]:
        keys = list(r["metrics"][0])
        lines.append("\nmetrics:")
        lines.append(_table(keys, [[row.get(k) for k in keys] for row in r["metrics"]]))
    if os.path.isfile(os.path.join(r["dir"], "kernels.txt")):
        lines.append("\nkernels:\n" + _read_text(os.path.join(r["dir"], "kernels.txt")).rstrip())
    return "\n".join(lines)


def compare_runs(paths: Sequence[str | os.PathLike]) -> str:
    """Runs side by side: hyperparameters, final and best values, environment; rows whose
    values differ between runs are marked with ``*``."""
    runs = [read_run(d) for d in find_runs(paths)]
    if not runs:
        return "no runs found"
    sections = []
    for title, get in (
            ("final", lambda r: r["run"].get("final", {})),
            ("best", lambda r: r["run"].get("best", {})),
            ("hparams", lambda r: r["hparams"]),
            ("data", lambda r: {"sha256": r["data"].get("sha256"),
                                "samples": r["data"].get("samples")}),
            ("env", lambda r: {k: v for k, v in r["environment"].items() if k != "argv"}),
            ("model", lambda r: {k: v for k, v in r["model"].items() if k != "layers"})):
        flat = [_flatten(get(r)) for r in runs]
        keys: list[str] = []
        for f in flat:
            keys += [k for k in f if k not in keys]
        for k in keys:
            values = [f.get(k) for f in flat]
            mark = "*" if len({json.dumps(v, default=str) for v in values}) > 1 else " "
            sections.append([f"{mark} {title}.{k}", *values])
    header = ["", *[os.path.basename(os.path.abspath(r["dir"])) for r in runs]]
    return _table(header, sections)


def plain_json(value: Any) -> Any:
    """``value`` with every leaf a JSON type: NumPy scalars as numbers, anything else unknown
    as its repr."""
    if isinstance(value, dict):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def write_mitigation_record(run_dir: str | os.PathLike, record: dict[str, Any]) -> str:
    """Write a fairness-mitigation audit record as ``<run_dir>/mitigation.json`` (atomically;
    nncore.fairness.audit makes the record, fit calls this with it).

    Args:
        run_dir: the run folder (made when missing).
        record: the audit record (a dict).
    Returns:
        The path written.
    """
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(os.fspath(run_dir), "mitigation.json")
    text = json.dumps(plain_json(record), indent=2) + "\n"
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
    return path
