"""topk: the native kernel against the NumPy composition it replaces (argpartition, then an
argsort of the k), and PyTorch's topk, on logits-shaped inputs. One process, the sides run
interleaved, medians of the repeats. Prints a table and writes JSON.

    python bench/bench_topk.py [--threads 1] [--json bench/results/bench_topk.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import print_table, write_json  # noqa: E402

import nncore as nc  # noqa: E402

CASES = [((64, 65), 10), ((1, 50257), 10), ((1, 50257), 200), ((64, 50257), 10)]


def numpy_topk(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k largest of each row, largest first: argpartition, then an argsort of the k."""
    part = np.argpartition(-x, k - 1, axis=-1)[:, :k]
    vals = np.take_along_axis(x, part, axis=-1)
    order = np.argsort(-vals, axis=-1, kind="stable")
    return np.take_along_axis(vals, order, axis=-1), np.take_along_axis(part, order, axis=-1)


def interleaved_medians(fns: list, repeats: int, min_time: float) -> list[float]:
    """Median time of each fn, the fns called in turn so all see the machine's same drift."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    start = time.perf_counter()
    while len(times[0]) < repeats or time.perf_counter() - start < min_time * len(fns):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    nc.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    rows, records = [], []
    for shape, k in CASES:
        x = rng.standard_normal(shape, dtype=np.float32)
        t = nc.tensor(x)
        tx = torch.from_numpy(x)
        ref_v, ref_i = numpy_topk(x, k)
        v, i = nc._C.topk_forward(x, k, True)
        assert np.array_equal(v, ref_v) and np.array_equal(i, ref_i), shape
        sides = [lambda x=x, k=k: nc._C.topk_forward(x, k, True),
                 lambda t=t, k=k: nc.topk(t, k),
                 lambda x=x, k=k: numpy_topk(x, k),
                 lambda tx=tx, k=k: torch.topk(tx, k)]
        kernel, op, numpy, tch = interleaved_medians(sides, args.repeats, 0.3)
        rows.append([f"{shape} k={k}", kernel * 1e6, op * 1e6, numpy * 1e6, tch * 1e6,
                     numpy / kernel, numpy / op])
        records.append({"shape": list(shape), "k": k, "kernel_us": kernel * 1e6,
                        "nncore_topk_us": op * 1e6, "numpy_us": numpy * 1e6,
                        "torch_us": tch * 1e6})
    print_table(f"topk, float32, {args.threads} thread(s), medians in us",
                ["case", "_C.topk", "nc.topk", "NumPy", "torch", "NumPy/_C", "NumPy/nc"], rows)
    if args.json:
        write_json(args.json, {"threads": args.threads, "results": records})


if __name__ == "__main__":
    main()
