"""Profiler overhead: the 784-128-10 MLP train step at batch 64 with profiling off and on.

Off and on run in alternating blocks in one process (so load drift hits both alike); the table
gives the median step of each and the overhead of profiling on (native scopes and autograd spans;
draining and analysing happen after the steps and are timed separately, per step). Also the
cost of one native NNC_PROFILE scope, off and on (best of 10 runs). Writes JSON.

    python bench/bench_profiler.py [--threads 1 2] [--json bench/results/bench_profiler.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
from common import print_table, write_json  # noqa: E402

import nncore as nc  # noqa: E402
from nncore import nn, optim  # noqa: E402
from nncore.profiler import profile  # noqa: E402


def _step_fn(batch: int):
    nc.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    x = nc.Tensor._wrap(rng.random((batch, 1, 28, 28), dtype=np.float32))
    y = nc.Tensor._wrap(rng.integers(0, 10, batch))

    def step() -> None:
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def _block(step, steps: int) -> list[float]:
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def bench_overhead(threads: int, batch: int, blocks: int, steps: int) -> list:
    step = _step_fn(batch)
    for _ in range(20):
        step()
    off: list[float] = []
    on: list[float] = []
    drain = 0.0
    events = 0
    for _ in range(blocks):
        off += _block(step, steps)
        with profile() as prof:
            on += _block(step, steps)
        t0 = time.perf_counter()
        events += len(prof.events())
        prof.summary()
        drain += time.perf_counter() - t0
    t_off, t_on = statistics.median(off), statistics.median(on)
    return [f"batch {batch}", threads, t_off * 1e6, t_on * 1e6,
            f"{100 * (t_on - t_off) / t_off:+.1f}%", events / (blocks * steps),
            drain / (blocks * steps) * 1e6]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--blocks", type=int, default=40, help="off/on block pairs")
    parser.add_argument("--steps", type=int, default=25, help="steps per block")
    parser.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results",
                                                       "bench_profiler.json"))
    args = parser.parse_args()

    rows, scopes = [], []
    for threads in args.threads:
        nc.set_num_threads(threads)
        rows.append(bench_overhead(threads, 64, args.blocks, args.steps))
    # NOTE: best of 10 runs: on a shared machine the mean of one run measures the neighbours.
    off_ns = min(nc._C.bench_profile_scope(200_000) for _ in range(10))
    nc._C.profiler_enable(True)
    on_ns = min(nc._C.bench_profile_scope(10_000) for _ in range(10))
    nc._C.profiler_enable(False)
    scopes.append(["NNC_PROFILE scope around an empty call", off_ns, on_ns])

    print(f"nncore {nc.__version__} ({nc._C.build_info()['flags'].strip()})")
    print_table("MLP 784-128-10 train step (SGD momentum), median us, profiler off vs on",
                ["case", "threads", "off us", "on us", "overhead", "events/step",
                 "drain+summary us/step"], rows)
    print_table("Native scope cost, ns", ["case", "off ns", "on ns"], scopes)
    write_json(args.json, {"step": rows, "scope": scopes, "nncore": nc.__version__})
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
