#!/usr/bin/env python
"""Fuzz nncore's native boundary (every ``nncore._C`` function, arguments drawn from its
signature) and its public ops (functional, tensor ops, factories, module constructors) with
random shapes, dtypes, misaligned and non-contiguous arrays and extreme integers.

Every call must return or raise ValueError, TypeError, IndexError, RuntimeError,
NotImplementedError or MemoryError (a request larger than memory); anything else
(OverflowError, ZeroDivisionError, AttributeError, KeyError, RecursionError...) counts as a
wrong exception type, and a worker killed by a signal (a segfault, an abort, an ASan report)
counts as a crash. Calls run in worker processes under an address-space limit (so a huge but
representable size fails to allocate instead of swapping the machine); a crashed worker is
replaced and the run continues after the crashing call. Each call is reproducible from
``--seed`` and its index (``--replay N`` runs one call in-process and shows its traceback).

Usage:
    PYTHONPATH=python python tools/fuzz.py --calls 12000 [--seed 1] [--json out.json]
    tools/sanitize.sh runs it under AddressSanitizer (``NNCORE_FUZZ_NO_RLIMIT=1``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import traceback
import warnings
from collections import Counter
from typing import Any, Callable

ALLOWED = (ValueError, TypeError, IndexError, RuntimeError, NotImplementedError, MemoryError)
# NOTE: extreme values multiply past any allocation (2^48 elements) or wrap int64; small ones
# give valid calls. Sizes near 2^31 make real multi-GB requests: the worker's
# address-space limit turns those into MemoryError.
HUGE = [2**31 - 1, 2**31, 2**32, 2**40, 2**62, 2**63 - 1, 2**63, 2**64, -2**63, -2**31, 10**30]
SKIP = {"bench_fma_peak", "bench_triad", "bench_profile_scope", "set_num_threads",
        "pool_set_limit", "pool_clear", "profiler_enable", "profiler_clear"}


def draw_int(r: random.Random) -> int:
    u = r.random()
    if u < 0.6:
        return r.randint(0, 5)
    if u < 0.75:
        return r.randint(-3, -1)
    if u < 0.8:
        return r.choice([7, 17, 64])
    return r.choice(HUGE)


def draw_float(r: random.Random) -> float:
    return r.choice([0.0, 0.1, 0.5, 0.9, 1.0, 1.5, -1.0, 1e-8, 1e30, -1e30, math.inf, -math.inf,
                     math.nan, 2.0**63])


def draw_array(r: random.Random, np: Any, dims: list[int], dtype: Any = None) -> Any:
    ndim = r.choice([0, 1, 2, 3, 4, 4, 4, 5])
    shape = [dims[i % len(dims)] if r.random() < 0.85 else r.randint(0, 3)
             for i in range(ndim)]
    dtype = dtype or r.choice([np.float32, np.float32, np.float64, np.int64, np.uint8,
                               np.int32, np.bool_, np.float16])
    n = int(np.prod(shape)) if shape else 1
    kind = r.random()
    if kind < 0.1 and np.dtype(dtype).itemsize > 1:
        # A view at an odd byte offset: legal NumPy, misaligned for the kernels.
        buf = bytearray(n * np.dtype(dtype).itemsize + 1)
        a = np.frombuffer(buf, dtype=dtype, count=n, offset=1).reshape(shape)
    elif kind < 0.18 and ndim >= 1:
        a = np.zeros(shape[:-1] + [2 * shape[-1]], dtype=dtype)[..., ::2]
    else:
        a = (np.random.default_rng(r.randrange(2**32)).standard_normal(shape) * 3)
        a = a.astype(dtype) if dtype is not np.bool_ else a > 0
    return a


def native_case(r: random.Random, np: Any, C: Any) -> tuple[str, Callable[[], Any]]:
    """A call of one ``_C`` function with arguments drawn from its signature."""
    import inspect  # noqa: F401 (signatures come from pybind11's docstrings)
    names = sorted(n for n in dir(C) if not n.startswith("_") and n not in SKIP)
    name = r.choice(names)
    fn = getattr(C, name)
    sig = (fn.__doc__ or "").split("\n")[0]
    params = sig[sig.index("(") + 1:sig.rindex(")")] if "(" in sig else ""
    dims = [r.randint(1, 5) for _ in range(4)]
    args: list[Any] = []
    depth = 0
    parts, cur = [], ""
    for ch in params:
        depth += ch in "[("
        depth -= ch in "])"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    for part in parts:
        ann = part.split(":", 1)[1] if ":" in part else "object"
        if r.random() < 0.03:
            args.append(r.choice([None, "x", 1.5, [], object()]))
        elif "numpy.ndarray" in ann:
            args.append(draw_array(r, np, dims, np.float32 if r.random() < 0.5 else None))
        elif ann.strip().startswith("tuple"):
            args.append((draw_int(r), draw_int(r)))
        elif ann.strip().startswith("list"):
            args.append([draw_array(r, np, dims, np.float32) for _ in range(r.randint(0, 3))])
        elif "Sequence" in ann:
            args.append([draw_float(r) for _ in range(r.randint(0, 3))])
        elif "bool" in ann:
            args.append(r.random() < 0.5)
        elif "str" in ann:
            args.append(r.choice(["mean", "sum", "none", "tanh", "bogus", ""]))
        elif "SupportsInt" in ann:
            args.append(draw_int(r))
        elif "SupportsFloat" in ann:
            args.append(draw_float(r))
        else:
            args.append(None if r.random() < 0.4 else draw_array(r, np, dims, np.float32))
    desc = f"_C.{name}({', '.join(_short(a, np) for a in args)})"
    return desc, lambda: fn(*args)


def _short(a: Any, np: Any) -> str:
    if isinstance(a, np.ndarray):
        tag = "" if a.flags.aligned else " misaligned"
        tag += "" if a.flags.c_contiguous else " strided"
        return f"array{tuple(a.shape)}:{a.dtype}{tag}"
    if isinstance(a, list):
        return "[" + ", ".join(_short(v, np) for v in a) + "]"
    return repr(a)[:40]


def public_case(r: random.Random, nc: Any, np: Any) -> tuple[str, Callable[[], Any]]:
    """A call of one public op with mostly-valid tensors and drawn size arguments."""
    F = nc.nn.functional
    nn = nc.nn
    d = [r.randint(1, 5) for _ in range(4)]
    i = lambda: draw_int(r)  # noqa: E731
    pair = lambda: i() if r.random() < 0.5 else (i(), i())  # noqa: E731
    x4 = nc.randn(*d)
    x3 = nc.randn(*d[:3])
    if r.random() < 0.1:
        x4 = nc.from_numpy(draw_array(r, np, d, np.float32))
    w4 = nc.randn(r.randint(1, 3), d[1], r.randint(1, 3), r.randint(1, 3))
    w3 = nc.randn(r.randint(1, 3), d[1], r.randint(1, 3))
    cases: list[tuple[str, Callable[[], Any]]] = [
        ("conv2d", lambda: F.conv2d(x4, w4, stride=pair(), padding=pair(), dilation=pair(),
                                    groups=r.choice([1, 1, i()]))),
        ("conv1d", lambda: F.conv1d(x3, w3, stride=i(), padding=i(), dilation=i())),
        ("conv_transpose2d", lambda: F.conv_transpose2d(
            x4, nc.randn(d[1], 2, 2, 2), stride=pair(), padding=pair(), output_padding=pair(),
            dilation=pair())),
        ("conv_transpose1d", lambda: F.conv_transpose1d(x3, nc.randn(d[1], 2, 3), stride=i(),
                                                        padding=i(), dilation=i())),
        ("max_pool2d", lambda: F.max_pool2d(x4, pair(), stride=pair(), padding=pair(),
                                            dilation=pair(), ceil_mode=r.random() < 0.5)),
        ("avg_pool2d", lambda: F.avg_pool2d(x4, pair(), stride=pair(), padding=pair(),
                                            ceil_mode=r.random() < 0.5,
                                            divisor_override=r.choice([None, i()]))),
        ("max_pool1d", lambda: F.max_pool1d(x3, i(), stride=i(), padding=i(), dilation=i())),
        ("avg_pool1d", lambda: F.avg_pool1d(x3, i(), stride=i(), padding=i())),
        ("adaptive_avg_pool2d", lambda: F.adaptive_avg_pool2d(x4, pair())),
        ("adaptive_max_pool2d", lambda: F.adaptive_max_pool2d(x4, pair())),
        ("adaptive_avg_pool1d", lambda: F.adaptive_avg_pool1d(x3, i())),
        ("interpolate", lambda: F.interpolate(x4, size=pair()) if r.random() < 0.5 else
         F.interpolate(x4, scale_factor=draw_float(r))),
        ("pad", lambda: F.pad(x4, tuple(i() for _ in range(r.choice([2, 4]))))),
        ("embedding", lambda: F.embedding(nc.tensor([[0, 1], [2, 0]]), nc.randn(3, d[0]),
                                          padding_idx=i())),
        ("linear", lambda: F.linear(x3, nc.randn(i() if r.random() < 0.2 else 2, d[2]))),
        ("softmax", lambda: F.softmax(x4, dim=i())),
        ("cross_entropy", lambda: F.cross_entropy(nc.randn(d[0], 3), nc.tensor([i()] * d[0]),
                                                  ignore_index=i())),
        ("dropout", lambda: F.dropout(x4, p=draw_float(r))),
        ("layer_norm", lambda: F.layer_norm(x4, (i(),) if r.random() < 0.5 else x4.shape[-1:])),
        ("zeros", lambda: nc.zeros(i(), i())),
        ("full", lambda: nc.full((i(),), draw_float(r))),
        ("arange", lambda: nc.arange(i(), i(), i() if r.random() < 0.7 else draw_float(r))),
        ("linspace", lambda: nc.linspace(draw_float(r), draw_float(r), i())),
        ("eye", lambda: nc.eye(i(), i())),
        ("randn", lambda: nc.randn(i(), 2)),
        ("randint", lambda: nc.randint(i(), i(), (2,))),
        ("sum", lambda: x4.sum(dim=i())),
        ("mean", lambda: x4.mean(dim=(i(), i()))),
        ("max", lambda: x4.max(dim=i())),
        ("stack", lambda: nc.stack([x3, x3], dim=i())),
        ("cat", lambda: nc.cat([x3, x3 if r.random() < 0.8 else x3.numpy()], dim=i())),
        ("permute", lambda: x4.permute(*[i() for _ in range(r.randint(0, 4))])),
        ("reshape", lambda: x4.reshape(i(), -1 if r.random() < 0.5 else i())),
        ("view", lambda: x4.view(i(), i())),
        ("narrow", lambda: x4.narrow(i(), i(), i())),
        ("split", lambda: x4.split(i(), dim=i())),
        ("chunk", lambda: x4.chunk(i(), dim=i())),
        ("topk", lambda: x3.topk(i(), dim=i())),
        ("repeat", lambda: x3.repeat(i(), i(), i())),
        ("expand", lambda: nc.randn(1, 3).expand(i(), 3)),
        ("unsqueeze", lambda: x3.unsqueeze(i())),
        ("flatten", lambda: x4.flatten(i(), i())),
        ("transpose", lambda: x4.transpose(i(), i())),
        ("roll", lambda: x3.roll(i(), i())),
        ("index_select", lambda: x3.index_select(i(), nc.tensor([i()]))),
        ("gather", lambda: x3.gather(i(), nc.full(x3.shape, i(), dtype=nc.int64))),
        ("unfold", lambda: x3.unfold(i(), i(), i())),
        ("diagonal", lambda: x4.diagonal(i(), i(), i())),
        ("tril", lambda: x4.tril(i())),
        ("movedim", lambda: x4.movedim(i(), i())),
        ("getitem", lambda: x4[i()]),
        ("setitem", lambda: x4.__setitem__((slice(None), i()), 1.0)),
        ("Conv2d", lambda: nn.Conv2d(i(), i(), pair(), stride=pair(), padding=pair())),
        ("Linear", lambda: nn.Linear(i(), i())),
        ("Embedding", lambda: nn.Embedding(i(), i())),
        ("LSTM", lambda: nn.LSTM(i(), i(), num_layers=i())),
        ("BatchNorm2d", lambda: nn.BatchNorm2d(i())),
        ("MaxPool2d", lambda: nn.MaxPool2d(pair(), stride=pair())(x4)),
        ("Flatten", lambda: nn.Flatten(i(), i())(x4)),
    ]
    name, fn = r.choice(cases)
    return name, fn


def run_worker(seed: int, start: int, stop: int, log: str, native_share: float) -> None:
    if not os.environ.get("NNCORE_FUZZ_NO_RLIMIT"):
        import resource
        limit = 6 << 30
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import numpy as np

    import nncore as nc
    from nncore import _C as C

    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    sys.setrecursionlimit(3000)
    counts: Counter = Counter()
    wrong: list[str] = []
    for index in range(start, stop):
        r = random.Random(seed * 1_000_003 + index)
        with open(log, "w") as f:
            f.write(f"{index}\n")
        try:
            native = r.random() < native_share
            desc, fn = native_case(r, np, C) if native else public_case(r, nc, np)
            with open(log, "a") as f:
                f.write(desc + "\n")
            fn()
            counts["ok"] += 1
        except ALLOWED as e:
            counts[type(e).__name__ if not isinstance(e, MemoryError) else "MemoryError"] += 1
        except BaseException as e:  # noqa: BLE001 (counting every other type is the point)
            if isinstance(e, KeyboardInterrupt):
                raise
            counts["wrong:" + type(e).__name__] += 1
            wrong.append(f"#{index} {desc}: {type(e).__name__}: {str(e)[:160]}")
    print(json.dumps({"counts": counts, "wrong": wrong}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=12000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--chunk", type=int, default=2000, help="calls per worker process")
    ap.add_argument("--native-share", type=float, default=0.5,
                    help="share of calls at the _C boundary (the rest: public ops)")
    ap.add_argument("--json", help="write the summary here")
    ap.add_argument("--replay", type=int, help="run call N in this process, with traceback")
    ap.add_argument("--worker", nargs=3, type=int, help=argparse.SUPPRESS)
    ap.add_argument("--log", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        run_worker(a.seed, a.worker[0], a.worker[1], a.log, a.native_share)
        return 0
    if a.replay is not None:
        import numpy as np

        import nncore as nc
        from nncore import _C as C
        r = random.Random(a.seed * 1_000_003 + a.replay)
        native = r.random() < a.native_share
        desc, fn = native_case(r, np, C) if native else public_case(r, nc, np)
        print(desc)
        try:
            fn()
            print("returned")
        except BaseException:
            traceback.print_exc()
        return 0
    counts: Counter = Counter()
    wrong: list[str] = []
    crashes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "current")
        start = 0
        while start < a.calls:
            stop = min(start + a.chunk, a.calls)
            p = subprocess.run([sys.executable, __file__, "--seed", str(a.seed),
                                "--native-share", str(a.native_share), "--log", log,
                                "--worker", str(start), str(stop), "0"],
                               capture_output=True, text=True)
            if p.returncode == 0:
                out = json.loads(p.stdout.strip().splitlines()[-1])
                counts.update(out["counts"])
                wrong.extend(out["wrong"])
                start = stop
                continue
            # The worker died: the log names the call it was in; count it, resume after it.
            lines = open(log).read().splitlines() if os.path.exists(log) else []
            at = int(lines[0]) if lines else start
            crashes.append(f"#{at} rc={p.returncode} {lines[1] if len(lines) > 1 else '?'} "
                           f"{p.stderr.strip()[-300:]}")
            # NOTE: the calls before the crash in this chunk are re-run by no one; they
            # completed, but their counts died with the worker: counted as calls made.
            counts["ok (lost with a crashed worker)"] += at - start
            start = at + 1
    total = sum(counts.values()) + len(crashes)
    summary = {"calls": total, "crashes": len(crashes),
               "wrong_exception_types": len(wrong), "counts": dict(sorted(counts.items())),
               "crash_cases": crashes, "wrong_cases": wrong[:200]}
    print(json.dumps(summary, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(summary, f, indent=1)
    return 1 if crashes or wrong else 0


if __name__ == "__main__":
    sys.exit(main())
