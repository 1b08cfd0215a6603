"""The profiler: where the time goes, and how close each native kernel runs to the machine.

``with nncore.profiler.profile() as prof:`` records every native kernel call (the C++ side's
``NNC_PROFILE`` scopes: op name, input shapes, threads, time, FLOPs and bytes as the kernel counts
them) and every autograd ``Function``'s forward and backward ("LinearFn.forward"), so a Python op
and the kernels under it nest by time on the same thread. ``prof.table()`` returns a text table
of calls, total, mean and self time, GFLOP/s, GB/s and their share of the machine's measured peak
(``nncore bench peak``, cached in ``~/.cache/nncore/peak.json``);
``prof.export_chrome_trace(path)`` writes a trace for Perfetto or chrome://tracing.
``NNCORE_PROFILE=1 python script.py`` profiles a whole script and prints the table at exit
(``NNCORE_PROFILE_TRACE=trace.json`` also writes the trace).

The bandwidth share is against DRAM (a STREAM triad); operands that stay in cache, as small
layers' do, show more than 100%. Autograd spans report the FLOPs and bytes of the kernels inside.
"""

from __future__ import annotations

import atexit
import json
import os
import platform
import sys
import tempfile
import threading
import time
from typing import Any

import numpy as np

from nncore import _C, _isa, autograd

__all__ = ["conv2d_flops", "linear_flops", "load_peak", "measure_peak", "peak_cache_path",
           "profile"]

_now_ns = time.perf_counter_ns
_get_ident = threading.get_ident


class _Spans:
    """Times each Function's forward and backward; installed as ``autograd._spans``."""

    def __init__(self, record_shapes: bool) -> None:
        # (Function class, is_forward, start_ns, end_ns, thread ident, input shapes or ()) on
        # the perf_counter_ns clock; names are made at analysis, off the hot path.
        self.records: list[tuple] = []
        self.record_shapes = record_shapes

    def forward(self, ctx: autograd.Function, arrays: list, kwargs: dict) -> Any:
        t0 = _now_ns()
        out = ctx.forward(*arrays, **kwargs)
        t1 = _now_ns()
        shapes = [a.shape for a in arrays] if self.record_shapes else ()
        self.records.append((type(ctx), True, t0, t1, _get_ident(), shapes))
        return out

    def backward(self, ctx: autograd.Function, grad: np.ndarray) -> Any:
        t0 = _now_ns()
        out = ctx.backward(grad)
        t1 = _now_ns()
        shapes = (grad.shape,) if self.record_shapes else ()
        self.records.append((type(ctx), False, t0, t1, _get_ident(), shapes))
        return out


def _clock_offset_ns() -> int:
    """Native clock minus perf_counter_ns: 0 where both are CLOCK_MONOTONIC (Linux)."""
    best = None
    for _ in range(5):
        p0 = _now_ns()
        c = _C.profiler_now_ns()
        p1 = _now_ns()
        if best is None or p1 - p0 < best[0]:
            best = (p1 - p0, c - (p0 + p1) // 2)
    offset = best[1]
    # NOTE: the same clock read twice differs by the call's cost; snapping to 0 keeps a span's
    # start exactly before the kernels it wraps.
    return 0 if abs(offset) < 1_000_000 else offset


_active: list[profile] = []


class profile:  # noqa: N801 (PyTorch's name)
    """Context manager recording native kernel calls and autograd op spans.

    Args:
        record_autograd: also record each Function's forward and backward as a span.
        record_shapes: also record the input shapes of those spans (as PyTorch's
            ``record_shapes``, off by default: reading the NumPy shapes is a third of a span's
            cost, about 0.3 of 1 us). Native kernel calls always carry their input shapes.

    Example::

        with nncore.profiler.profile() as prof:
            loss = loss_fn(model(x), y)
            loss.backward()
        print(prof.table())
        prof.export_chrome_trace("trace.json")

    Profiles nest: an inner one's events also count in the outer one.
    """

    def __init__(self, record_autograd: bool = True, record_shapes: bool = False) -> None:
        self.record_autograd = record_autograd
        self.record_shapes = record_shapes
        self._native: dict[str, list] = {k: [] for k in _NATIVE_COLUMNS}
        self._span_records: list[tuple] = []
        self._spans: _Spans | None = None
        self._prev_spans: _Spans | None = None
        self._start_ns = self._end_ns = 0
        self._offset = 0
        self._analysis: list[dict] | None = None

    # ---- recording ----
    def __enter__(self) -> profile:
        if self in _active:
            raise RuntimeError("profile: this profile is already recording")
        if _active:
            _active[-1]._collect_native()
        self._offset = _clock_offset_ns()
        self._spans = _Spans(self.record_shapes) if self.record_autograd else None
        self._prev_spans = autograd.set_span_recorder(self._spans)
        _active.append(self)
        self._analysis = None
        self._start_ns = _C.profiler_now_ns()
        _C.profiler_enable(True)
        return self

    def __exit__(self, *exc: object) -> None:
        self._end_ns = _C.profiler_now_ns()
        self._collect_native()
        _active.remove(self)
        if not _active:
            _C.profiler_enable(False)
        autograd.set_span_recorder(self._prev_spans)
        if self._spans is not None:
            offset = self._offset
            names: dict[tuple[type, bool], str] = {}
            for cls, fwd, s, e, t, sh in self._spans.records:
                name = names.get((cls, fwd))
                if name is None:
                    name = names[cls, fwd] = f"{cls.__name__}.{'forward' if fwd else 'backward'}"
                self._span_records.append((name, s + offset, e + offset, t, tuple(sh)))
            self._spans = None
        if _active:  # an outer profile sees what this one saw
            outer = _active[-1]
            for key in _NATIVE_COLUMNS:
                outer._native[key].extend(self._native[key])
            if outer._spans is not None:
                if outer.record_autograd:
                    outer._span_records.extend(self._span_records)
        self._analysis = None

    def _collect_native(self) -> None:
        events = _C.profiler_events()
        for key in _NATIVE_COLUMNS:
            self._native[key].extend(events[key])

    # ---- analysis ----
    def events(self) -> list[dict]:
        """Every recorded event, sorted by thread and start time.

        Returns:
            dicts with ``name``, ``kind`` ("native" or "autograd"), ``start_ns``, ``end_ns`` (the
            native steady clock), ``thread``, ``shapes``, ``threads`` (native kernel threads),
            ``flops``, ``bytes`` (for autograd spans: the sum over the kernels inside), ``self_ns``
            (time not inside a child event) and ``depth`` (nesting level on its thread).
        """
        if _active and self in _active:
            self._collect_native()
            self._analysis = None
        if self._analysis is None:
            self._analysis = _analyse(self._native, self._span_records)
        return self._analysis

    def summary(self, sort_by: str = "total", group_by_shape: bool = False) -> list[dict]:
        """The table's rows as data: one dict per op name (and shapes when grouped).

        Args:
            sort_by: "total", "self", "calls", "mean", "gflops", "gbs" (descending) or "name".
            group_by_shape: one row per (name, input shapes) instead of per name.

        Returns:
            dicts with ``name``, ``kind``, ``shapes`` (None unless grouped), ``calls``,
            ``total_ms``, ``mean_us``, ``self_ms``, ``flops``, ``bytes``, ``gflops``, ``gbs``,
            ``threads``, ``peak_flops_pct`` and ``peak_bandwidth_pct`` (None without FLOPs or
            bytes).
        """
        if sort_by not in _SORT_KEYS:
            raise ValueError(f"summary: sort_by must be one of {sorted(_SORT_KEYS)}, "
                             f"got {sort_by!r}")
        groups: dict[tuple, dict] = {}
        for e in self.events():
            key = (e["name"], e["shapes"]) if group_by_shape else (e["name"],)
            g = groups.get(key)
            if g is None:
                g = groups[key] = {"name": e["name"], "kind": e["kind"],
                                   "shapes": e["shapes"] if group_by_shape else None,
                                   "calls": 0, "total_ns": 0, "self_ns": 0, "flops": 0.0,
                                   "bytes": 0.0, "threads": 0}
            g["calls"] += 1
            g["total_ns"] += e["end_ns"] - e["start_ns"]
            g["self_ns"] += e["self_ns"]
            g["flops"] += e["flops"]
            g["bytes"] += e["bytes"]
            g["threads"] = max(g["threads"], e["threads"])
        peak = load_peak() if groups else None
        rows = []
        for g in groups.values():
            seconds = g["total_ns"] * 1e-9
            gflops = g["flops"] / seconds * 1e-9 if g["flops"] and seconds > 0 else None
            gbs = g["bytes"] / seconds * 1e-9 if g["bytes"] and seconds > 0 else None
            threads = g["threads"] or _C.get_num_threads()
            rows.append({
                "name": g["name"], "kind": g["kind"], "shapes": g["shapes"], "calls": g["calls"],
                "total_ms": g["total_ns"] * 1e-6, "mean_us": g["total_ns"] * 1e-3 / g["calls"],
                "self_ms": g["self_ns"] * 1e-6, "flops": g["flops"], "bytes": g["bytes"],
                "gflops": gflops, "gbs": gbs, "threads": threads,
                "peak_flops_pct": None if gflops is None
                else 100 * gflops / _peak_at(peak["fma_gflops"], threads),
                "peak_bandwidth_pct": None if gbs is None
                else 100 * gbs / _peak_at(peak["bandwidth_gbs"], threads),
            })
        key = _SORT_KEYS[sort_by]
        if key == "name":
            rows.sort(key=lambda r: r["name"])
        else:  # descending, rows without a figure last
            rows.sort(key=lambda r: (r[key] is None, -(r[key] or 0)))
        return rows

    def table(self, sort_by: str = "total", group_by_shape: bool = False,
              row_limit: int = 0) -> str:
        """The summary as a text table, returned (not printed), as PyTorch's
        ``prof.key_averages().table()``: ``print(prof.table())``.

        Args:
            sort_by: see ``summary``.
            group_by_shape: one row per (name, input shapes).
            row_limit: at most this many rows (0: all).

        Returns:
            The table as a string: a title line naming the native module and the peak, the
            rows, and a footer with the wall time and the share of it spent inside ops.
        """
        rows = self.summary(sort_by=sort_by, group_by_shape=group_by_shape)
        if row_limit > 0:
            rows = rows[:row_limit]
        header = ["name", "calls", "total ms", "mean us", "self ms", "GFLOP/s", "GB/s",
                  "% peak FLOP/s", "% peak GB/s"]
        cells = [header]
        for r in rows:
            name = r["name"]
            if r["shapes"] is not None:
                name += " " + " ".join(_shape_str(s) for s in r["shapes"])
            cells.append([name, str(r["calls"]), f"{r['total_ms']:.3f}", f"{r['mean_us']:.1f}",
                          f"{r['self_ms']:.3f}", _num(r["gflops"]), _num(r["gbs"]),
                          _num(r["peak_flops_pct"]), _num(r["peak_bandwidth_pct"])])
        widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
        lines = [self._title(bool(rows))]
        lines += ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                           for i, (c, w) in enumerate(zip(cells[0], widths)))]
        lines.append("  ".join("-" * w for w in widths))
        for c in cells[1:]:
            lines.append("  ".join(v.ljust(w) if i == 0 else v.rjust(w)
                                   for i, (v, w) in enumerate(zip(c, widths))))
        lines.append(self._footer())
        return "\n".join(lines)

    def _title(self, with_peak: bool) -> str:
        """The header line: which native module ran the kernels, and the peak the shares use."""
        loaded = _isa.loaded()
        title = (f"nncore native module {loaded.get('module')} (ISA {loaded.get('isa')}, "
                 f"-march={loaded.get('target')})")
        if with_peak:
            peak = load_peak()
            threads = _C.get_num_threads()
            title += (f"; FMA peak {_peak_at(peak['fma_gflops'], threads):.1f} GFLOP/s at "
                      f"{threads} thread{'s' if threads > 1 else ''}")
        return title

    def _footer(self) -> str:
        events = self.events()
        wall = ((self._end_ns or _C.profiler_now_ns()) - self._start_ns) * 1e-6
        native = sum(e["end_ns"] - e["start_ns"] for e in events if e["kind"] == "native") * 1e-6
        top = sum(e["end_ns"] - e["start_ns"] for e in events if e["depth"] == 0) * 1e-6
        share = f"{100 * top / wall:.0f}%" if wall > 0 else "-"
        return (f"{len(events)} events over {wall:.3f} ms wall: native kernels {native:.3f} ms; "
                f"top-level events {top:.3f} ms ({share} of wall, the rest is Python outside "
                f"any op)")

    def export_chrome_trace(self, path: str | os.PathLike) -> None:
        """Write a Chrome trace-event JSON (Perfetto, chrome://tracing), atomically.

        Args:
            path: the file to write; replaced whole (temp file + rename), never half-written.
        """
        events = self.events()
        pid = os.getpid()
        base = self._start_ns
        tids: dict[int, int] = {}
        trace: list[dict] = [{"name": "process_name", "ph": "M", "pid": pid, "tid": 0,
                              "args": {"name": "nncore"}}]
        for e in events:
            if e["thread"] not in tids:
                tids[e["thread"]] = tid = len(tids) + 1
                trace.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid,
                              "args": {"name": f"thread {tid}"}})
            args: dict[str, Any] = {"shapes": [list(s) for s in e["shapes"]]}
            if e["kind"] == "native":
                args["threads"] = e["threads"]
            if e["flops"] or e["bytes"]:
                args["flops"] = e["flops"]
                args["bytes"] = e["bytes"]
            trace.append({"name": e["name"], "cat": e["kind"], "ph": "X",
                          "ts": (e["start_ns"] - base) / 1000.0,
                          "dur": (e["end_ns"] - e["start_ns"]) / 1000.0,
                          "pid": pid, "tid": tids[e["thread"]], "args": args})
        _write_json_atomic(os.fspath(path), {"traceEvents": trace, "displayTimeUnit": "ms"})


_NATIVE_COLUMNS = ("name", "start_ns", "end_ns", "flops", "bytes", "threads", "thread_id",
                   "shapes")
_SORT_KEYS = {"total": "total_ms", "self": "self_ms", "calls": "calls", "mean": "mean_us",
              "gflops": "gflops", "gbs": "gbs", "name": "name"}


def _analyse(native: dict[str, list], spans: list[tuple]) -> list[dict]:
    """Events of both kinds with self time, depth and (for spans) the FLOPs inside."""
    events = [
        {"name": n, "kind": "native", "start_ns": int(s), "end_ns": int(e), "thread": int(t),
         "shapes": sh, "threads": int(th), "flops": float(f), "bytes": float(b)}
        for n, s, e, t, sh, th, f, b in zip(
            native["name"], native["start_ns"], native["end_ns"], native["thread_id"],
            native["shapes"], native["threads"], native["flops"], native["bytes"])
    ]
    events += [{"name": n, "kind": "autograd", "start_ns": s, "end_ns": e, "thread": t,
                "shapes": sh, "threads": 0, "flops": 0.0, "bytes": 0.0}
               for n, s, e, t, sh in spans]
    # A parent starts no later and ends no earlier than its children; on a tie the longer
    # (outer) event comes first.
    events.sort(key=lambda ev: (ev["thread"], ev["start_ns"], -ev["end_ns"]))
    stack: list[dict] = []
    thread = None
    for ev in events:
        if ev["thread"] != thread:
            stack, thread = [], ev["thread"]
        while stack and stack[-1]["end_ns"] <= ev["start_ns"]:
            stack.pop()
        while stack and stack[-1]["end_ns"] < ev["end_ns"]:
            stack.pop()  # overlaps without nesting (another thread's clock): not a child
        duration = ev["end_ns"] - ev["start_ns"]
        ev["self_ns"] = duration
        ev["depth"] = len(stack)
        if stack:
            stack[-1]["self_ns"] -= duration
            if ev["kind"] == "native":
                for outer in stack:
                    if outer["kind"] == "autograd":
                        outer["flops"] += ev["flops"]
                        outer["bytes"] += ev["bytes"]
        stack.append(ev)
    return events


def _shape_str(shape: tuple) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _num(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"


def _write_json_atomic(path: str, payload: Any) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".nncore-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


# ---- FLOP counts as the kernels count them (pure functions) ----
def linear_flops(rows: int, in_features: int, out_features: int, bias: bool = True,
                 backward: bool = False) -> int:
    """FLOPs of ``linear.forward`` (GEMM 2*rows*in*out, plus rows*out bias adds) or of
    ``linear.backward`` with every gradient (two GEMMs and rows*out for the bias gradient)."""
    gemm = 2 * rows * in_features * out_features
    return (2 * gemm if backward else gemm) + (rows * out_features if bias else 0)


def conv2d_flops(input_shape: tuple[int, int, int, int], weight_shape: tuple[int, int, int, int],
                 output_hw: tuple[int, int], bias: bool = True, backward: bool = False) -> int:
    """FLOPs of a conv2d (NCHW, weight [C_out, C_in/groups, kH, kW]), the count a conv kernel's
    ``NNC_PROFILE`` scope records: 2 * N * C_out * H_out * W_out * (C_in/groups) * kH * kW
    multiply-adds, plus one add per output for the bias. ``backward=True``: the input and weight
    gradients are one such product each, and the bias gradient sums every output once.
    """
    n = input_shape[0]
    c_out, c_in_per_group, kh, kw = weight_shape
    outputs = n * c_out * output_hw[0] * output_hw[1]
    macs = 2 * outputs * c_in_per_group * kh * kw
    return (2 * macs if backward else macs) + (outputs if bias else 0)


# ---- the machine's peak (``nncore bench peak``) ----
def peak_cache_path() -> str:
    """``~/.cache/nncore/peak.json``."""
    return os.path.join(os.path.expanduser("~"), ".cache", "nncore", "peak.json")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def measure_peak(quick: bool = False) -> dict:
    """Measure the FP32 FMA peak and the STREAM-triad bandwidth on 1 and on all processors.

    Args:
        quick: shorter runs over smaller arrays (still 1.5x the last-level cache at least).

    Returns:
        ``{"cpu", "simd", "isa", "module", "fma_lanes", "fma_gflops": {threads: GFLOP/s},
        "bandwidth_gbs": {threads: GB/s}, "measured_at"}`` (thread counts as strings, as JSON
        keeps them). The FMA loop is the loaded module's (16 lanes in the AVX-512 module).
    """
    procs = max(1, int(_C.build_info()["omp_num_procs"]))
    seconds, n, repeats = (0.06, 1 << 22, 3) if quick else (0.3, 1 << 24, 8)
    fma, bw = {}, {}
    for threads in sorted({1, procs}):
        fma[str(threads)] = _C.bench_fma_peak(threads, seconds)
        bw[str(threads)] = _C.bench_triad(threads, n, repeats)
    info = _C.build_info()
    return {"cpu": _cpu_model(), "simd": info["simd"], "isa": info.get("isa"),
            "module": _isa.loaded().get("module"), "fma_lanes": _C.bench_fma_lanes(),
            "fma_gflops": fma, "bandwidth_gbs": bw,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "quick": quick}


def load_peak(force: bool = False, quick: bool = False) -> dict:
    """The cached peak figures, measured (and cached atomically) on first need or when forced,
    or when the cache was measured on another CPU or with another ISA's module (the AVX2 module's
    peak is half the AVX-512 one's on the same CPU)."""
    path = peak_cache_path()
    if not force:
        try:
            with open(path) as f:
                cached = json.load(f)
            if (cached.get("cpu") == _cpu_model() and cached.get("isa") == _current_isa()
                    and cached.get("fma_gflops")):
                return cached
        except (OSError, ValueError):
            pass
    peak = measure_peak(quick=quick)
    _write_json_atomic(path, peak)
    return peak


def _current_isa() -> str | None:
    return _C.build_info().get("isa")


def _peak_at(table: dict[str, float], threads: int) -> float:
    """Peak at ``threads``: measured, else interpolated linearly between measured counts."""
    points = sorted((int(k), v) for k, v in table.items())
    if str(threads) in table:
        return table[str(threads)]
    below = [p for p in points if p[0] <= threads] or points[:1]
    above = [p for p in points if p[0] >= threads] or points[-1:]
    (t0, v0), (t1, v1) = below[-1], above[0]
    return v0 if t1 == t0 else v0 + (v1 - v0) * (threads - t0) / (t1 - t0)


# ---- NNCORE_PROFILE=1 ----
def _profile_script() -> None:
    """Profile from import to exit; print the table (stderr) and, with NNCORE_PROFILE_TRACE,
    write the trace."""
    prof = profile()
    prof.__enter__()

    def report() -> None:
        if prof in _active:
            prof.__exit__(None, None, None)
        print("\nnncore profile (NNCORE_PROFILE=1):", file=sys.stderr)
        print(prof.table(), file=sys.stderr)
        trace = os.environ.get("NNCORE_PROFILE_TRACE")
        if trace:
            prof.export_chrome_trace(trace)
            print(f"trace written to {trace}", file=sys.stderr)

    atexit.register(report)
