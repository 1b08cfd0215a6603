"""Shared by the bench scripts: timing, the machine's peak estimate, tables and JSON output."""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from typing import Any, Callable


def median_time(fn: Callable[[], Any], repeats: int = 15, warmup: int = 3,
                min_time: float = 0.0) -> float:
    """Median wall time of fn() in seconds over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def paired_median_times(fn_a: Callable[[], Any], fn_b: Callable[[], Any], repeats: int = 15,
                        warmup: int = 3, min_time: float = 0.0) -> tuple[float, float]:
    """Median wall times of fn_a() and fn_b() in seconds, their runs alternating.

    On a shared 2-core VM the machine's speed drifts by 10-30% over seconds; alternating the two
    sides makes both see the same drift, so their ratio is far steadier than from two separate
    ``median_time`` calls.

    NOTE: each timed call comes after a settle pause and untimed calls of the same side. In
    one process the other library's threads are still spinning right after its call (PyTorch's
    OpenMP workers poll for milliseconds) and would take the second core from this side's
    threads; the pause lets them go idle, and the untimed calls wake this side's own workers, so
    each side is timed warm on an otherwise quiet machine, as in a training loop.
    """
    if scaling_mode():
        import nncore

        threads = nncore.get_num_threads()
        try:
            return _paired_times(_at_threads(fn_a, threads), _at_threads(fn_a, 1), repeats,
                                 warmup, min_time)
        finally:
            nncore.set_num_threads(threads)  # the run's count, for the next row
    return _paired_times(fn_a, fn_b, repeats, warmup, min_time)


def _paired_times(fn_a: Callable[[], Any], fn_b: Callable[[], Any], repeats: int, warmup: int,
                  min_time: float) -> tuple[float, float]:
    """paired_median_times without the scaling mode."""
    for _ in range(warmup):
        fn_a()
        fn_b()
    times_a, times_b = [], []
    start = time.perf_counter()
    while len(times_a) < repeats or time.perf_counter() - start < 2 * min_time:
        times_a.append(_settled_call(fn_a))
        times_b.append(_settled_call(fn_b))
    return statistics.median(times_a), statistics.median(times_b)


def scaling_mode() -> bool:
    """True under NNCORE_BENCH_SCALING=1: every paired timing then times nncore's side (fn_a) at
    the thread count set for the run against nncore's side at 1 thread, interleaved, so each
    row's ratio column reads as the speedup of the run's threads over one thread (a row below
    1.0 is slower on more threads). PyTorch's side is not run. Run with --threads 2."""
    return os.environ.get("NNCORE_BENCH_SCALING") == "1"


def _at_threads(fn: Callable[[], Any], threads: int) -> Callable[[], Any]:
    """fn at ``threads`` nncore threads."""
    import nncore

    def run() -> Any:
        nncore.set_num_threads(threads)
        return fn()

    return run


# NOTE: longer than PyTorch's OpenMP workers poll after a parallel region: traced on this VM
# (sched_switch), a libgomp worker spun ~7.5-8 ms after PyTorch's call returned, sharing the
# second core with nncore's worker (5 ms left nncore's first calls at 1 thread's speed).
SETTLE_S = 0.015


# NOTE: untimed calls before each timed one, for at least this long: on this VM a worker thread
# woken after the settle pause (either library's) takes up to a millisecond to run, so after a
# single short untimed call the timed one ran on the caller alone (measured: a 0.4 ms kernel at
# 2 threads timed at 1 thread's speed). A training loop calls kernels back to back.
WARM_S = 0.002


def _settled_call(fn: Callable[[], Any]) -> float:
    """Wall time of fn() after a settle pause and untimed calls for WARM_S (at least one; see
    paired_median_times). The scaling mode runs nncore alone: no pause (nothing to settle)."""
    if not scaling_mode():
        time.sleep(SETTLE_S)
    warm_until = time.perf_counter() + WARM_S
    fn()
    while time.perf_counter() < warm_until:
        fn()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def cpu_mhz() -> float:
    """Nominal clock from /proc/cpuinfo (0 when unknown)."""
    try:
        with open("/proc/cpuinfo") as f:
            mhz = [float(line.split(":")[1]) for line in f if line.startswith("cpu MHz")]
        return max(mhz) if mhz else 0.0
    except OSError:
        return 0.0


# FP32 peaks measured with a hand-written FMA loop (GFLOP/s at 1 and 2 threads), by (cpu family,
# model). NOTE: Zen 4 (family 25, model 17) runs a 512-bit FMA as two 256-bit halves, so its
# AVX-512 peak equals its AVX2 one (2 pipes x 8 lanes x 2 FLOP per cycle); /proc/cpuinfo's
# nominal 2.6 GHz understates the clock the loop runs at (~3.6 GHz), so the formula below read
# 83 GFLOP/s where the loop measured 117.
MEASURED_PEAK_GFLOPS = {(25, 17): {1: 117.0, 2: 228.0}}


def cpu_family_model() -> tuple[int, int]:
    """(cpu family, model) from /proc/cpuinfo, (-1, -1) when unknown."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("cpu family", "model") and key not in fields:
                    fields[key] = int(value)
                if not line.strip() and fields:
                    break
    except (OSError, ValueError):
        pass
    return fields.get("cpu family", -1), fields.get("model", -1)


def fma_peak_gflops(threads: int) -> float:
    """FP32 FMA peak in GFLOP/s at ``threads`` threads, for the "% of peak" columns.

    NNCORE_PEAK_GFLOPS (one core) overrides; else the measured peak of a known CPU
    (MEASURED_PEAK_GFLOPS, per-core rate of its highest measured thread count beyond it); else
    the nominal clock x 32 FLOP per cycle per core (2 FMA pipes x 8 float lanes x 2).
    """
    env = os.environ.get("NNCORE_PEAK_GFLOPS")
    if env:
        return float(env) * threads
    measured = MEASURED_PEAK_GFLOPS.get(cpu_family_model())
    if measured:
        if threads in measured:
            return measured[threads]
        most = max(measured)
        return measured[most] / most * threads
    return cpu_mhz() * 1e-3 * 32 * threads


def print_table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    if scaling_mode():
        title += ("  [NNCORE_BENCH_SCALING: the PyTorch columns are nncore at 1 thread; the "
                  "ratio is the speedup over 1 thread]")
    cells = [header] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells[1:]:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(r, widths)) + " |")


def _fmt(c: Any) -> str:
    if isinstance(c, float):
        return f"{c:,.3g}" if abs(c) < 100 else f"{c:,.0f}"
    return str(c)


def write_json(path: str, payload: dict) -> None:
    """Write atomically: a temp file in the same folder, then rename. Under scaling_mode() the
    file is <name>.scaling.json, so a scaling run never overwrites the comparison results."""
    if scaling_mode():
        path = os.path.splitext(path)[0] + ".scaling.json"
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(payload, f, indent=2)
    os.replace(tmp, path)
