"""The wheel's two native modules against a -march=native build, side by side in one process.

Every module is loaded at once (their symbols are hidden, so they never bind each other's code)
and each row runs under each module in turn, round after round, so all see the same machine
drift; the table shows median times and each module's ratio to the native build. Rows: GEMM,
training steps of the MNIST recipes (MLP, CNN, transformer), conv2d, 2x2 max pooling and
attention forward+backward, at 1 thread. Needs the pair in nncore's folder (NNCORE_ISA_PAIR) and
a source build's _C (--native, default: nncore's own _C).

    python bench/bench_isa.py --native build/native/_C.cpython-311-x86_64-linux-gnu.so [--quick]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import statistics
import sys
import time
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
from common import print_table, write_json  # noqa: E402

import nncore as nc  # noqa: E402
import nncore.nn.functional as F  # noqa: E402
from nncore import nn, optim  # noqa: E402
from nncore.train.recipes import RECIPES  # noqa: E402


def load_modules(native: str | None) -> dict[str, Any]:
    """name -> extension module: "native" (a source build's _C) and the pair."""
    mods: dict[str, Any] = {}
    path = native or next((os.path.join(os.path.dirname(nc.__file__), f)
                           for f in os.listdir(os.path.dirname(nc.__file__))
                           if f.startswith("_C.") and f.endswith(".so")), None)
    if path:
        spec = importlib.util.spec_from_file_location("_C", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mods["native"] = mod
    for isa in ("avx512", "avx2"):
        if not nc._isa.missing_features(isa):
            mods[isa] = importlib.import_module(f"nncore._C_{isa}")
    for mod in mods.values():
        mod.set_num_threads(1)
    return mods


def use(mod: Any) -> None:
    """Point every nncore module's `_C` at `mod` (they bound nncore._C at import)."""
    for name, m in list(sys.modules.items()):
        if (name == "nncore" or name.startswith("nncore.")) and hasattr(m, "_C"):
            if type(m._C).__name__ == "module":
                m._C = mod


def train_step(recipe: str, batch: int) -> Callable[[], None]:
    nc.manual_seed(0)
    model = RECIPES[recipe].build()
    model.train()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    x = nc.tensor(rng.random((batch, 1, 28, 28), dtype=np.float32))
    y = nc.tensor(rng.integers(0, 10, batch))
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def fwd_bwd(fn: Callable[..., Any], *shapes: tuple) -> Callable[[], None]:
    rng = np.random.default_rng(1)
    ins = [nc.tensor(rng.standard_normal(s, dtype=np.float32), requires_grad=True)
           for s in shapes]

    def run() -> None:
        fn(*ins).sum().backward()
    return run


def rows() -> list[tuple[str, float, Callable[[], None]]]:
    """(name, GFLOP per call or 0, the call)."""
    rng = np.random.default_rng(0)
    out = []
    for m, k, n in [(256, 784, 128), (1024, 1024, 1024)]:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        out.append((f"gemm {m}x{k}x{n}", 2e-9 * m * k * n,
                    lambda a=a, b=b: nc._C.matmul_forward(a, b)))
    for recipe, batch in [("mnist-mlp", 64), ("mnist-mlp", 256), ("mnist-cnn", 64),
                          ("mnist-transformer", 64)]:
        out.append((f"{recipe} step b{batch}", 0.0, train_step(recipe, batch)))
    out.append(("conv2d 32->64 14x14 b64 f+b", 0.0,
                fwd_bwd(lambda x, w: F.conv2d(x, w, padding=1), (64, 32, 14, 14),
                        (64, 32, 3, 3))))
    out.append(("max_pool2d 2x2 (64,32,28,28) f+b", 0.0,
                fwd_bwd(lambda x: F.max_pool2d(x, 2), (64, 32, 28, 28))))
    out.append(("attention (8,4,128,32) causal f+b", 0.0,
                fwd_bwd(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                        (8, 4, 128, 32), (8, 4, 128, 32), (8, 4, 128, 32))))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--native", help="a source build's _C*.so (default: nncore's own _C)")
    parser.add_argument("--label", default="native",
                        help="the baseline's name in the table (e.g. portable)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results",
                                                       "bench_isa.json"))
    args = parser.parse_args()
    mods = load_modules(args.native)
    if "native" in mods:
        mods = {(args.label if n == "native" else n): m for n, m in mods.items()}
    names = list(mods)
    base = args.label if args.label in mods else None
    rounds, min_time = (8, 0.3) if args.quick else (40, 1.6)
    table, records = [], []
    for label, gflop, fn in rows():
        times: dict[str, list[float]] = {n: [] for n in names}
        for name in names:  # warm-up: one-off allocations, thread start-up, page faults
            use(mods[name])
            fn()
        for r in range(rounds):
            # NOTE: the order rotates each round, so no module always runs right after another.
            for name in names[r % len(names):] + names[:r % len(names)]:
                use(mods[name])
                reps, t0 = 0, time.perf_counter()
                while reps < 2 or time.perf_counter() - t0 < min_time / rounds:
                    fn()
                    reps += 1
                times[name].append((time.perf_counter() - t0) / reps)
        med = {n: statistics.median(t) for n, t in times.items()}
        # NOTE: the ratio is the median of per-round ratios: a round's modules ran within a
        # fraction of a second of each other, so the VM's drift (up to 2x over minutes) cancels.
        ratio = {n: statistics.median(b / t for b, t in zip(times[base], times[n]))
                 for n in names if base and n != base}
        cells = [label]
        for n in names:
            cell = f"{med[n] * 1e3:.3f}"
            if gflop:
                cell += f" ({gflop / med[n]:.0f} GF/s)"
            if n in ratio:
                cell += f" x{ratio[n]:.3f}"
            cells.append(cell)
        table.append(cells)
        records.append({"row": label, "gflop": gflop, "ms": {n: med[n] * 1e3 for n in names},
                        "baseline_over": ratio})
    use(nc._C)
    print_table("ms per call, 1 thread; xR = median over rounds of the baseline's "
                "time / this module's time (>1: faster)",
                ["row"] + [f"{n} ({mods[n].build_info().get('target', 'n/a')})" for n in names],
                table)
    write_json(args.json, {"rows": records, "modules": {n: mods[n].build_info()["flags"]
                                                       for n in names}})


if __name__ == "__main__":
    main()
