"""nncore's GEMM vs PyTorch's, in one process, runs interleaved, at 1 and 2 threads.

Rows: 1024^3 (torch.mm) and the linear-layer products of a small GPT (768 token rows, width 128:
x W^T forward, dy W input gradient, dy^T x weight gradient). GFLOP/s, ratio = nncore speed /
PyTorch speed, and nncore's share of the measured FP32 peak (--peak GFLOP/s per core; 117 on
the Zen 4 this was written on, whose 512-bit FMAs run at the 256-bit rate).

    python bench/bench_gemm.py [--threads 1 2] [--quick] [--peak 117]
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import paired_median_times, print_table  # noqa: E402

import nncore as nc  # noqa: E402

C = nc._C


def cases() -> list[tuple[str, float, object, object]]:
    """(name, flops, nncore call, torch call) for every row."""
    rng = np.random.default_rng(0)
    out = []
    a = rng.standard_normal((1024, 1024), dtype=np.float32)
    b = rng.standard_normal((1024, 1024), dtype=np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    out.append(("1024^3 a@b", 2.0 * 1024**3, lambda: C.matmul_forward(a, b),
                lambda: torch.mm(ta, tb)))
    for m, k, n in [(768, 128, 128), (768, 128, 384), (768, 128, 512), (768, 512, 128)]:
        x = rng.standard_normal((m, k), dtype=np.float32)
        w = rng.standard_normal((n, k), dtype=np.float32)
        dy = rng.standard_normal((m, n), dtype=np.float32)
        tx, tw, tdy = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(dy)
        f = 2.0 * m * k * n
        out.append((f"{m}x{k}->{n} x@W^T", f, lambda x=x, w=w: C.linear_forward(x, w),
                    lambda tx=tx, tw=tw: torch.nn.functional.linear(tx, tw)))
        out.append((f"{m}x{k}->{n} dy@W", f,
                    lambda dy=dy, x=x, w=w: C.linear_backward(dy, x, w, True, False, False),
                    lambda tdy=tdy, tw=tw: torch.mm(tdy, tw)))
        out.append((f"{m}x{k}->{n} dy^T@x", f,
                    lambda dy=dy, x=x, w=w: C.linear_backward(dy, x, w, False, True, False),
                    lambda tdy=tdy, tx=tx: torch.mm(tdy.t(), tx)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--peak", type=float, default=117.0, help="FP32 GFLOP/s per core")
    parser.add_argument("--only", default="", help="substring of the row names to run")
    args = parser.parse_args()
    rows = []
    for threads in args.threads:
        for name, flops, run_nc, run_t in cases():
            if args.only not in name:
                continue
            nc.set_num_threads(threads)
            torch.set_num_threads(threads)
            reps = 20 if args.quick else 60
            t_nc, t_t = paired_median_times(run_nc, run_t, repeats=reps, warmup=5,
                                            min_time=0.1 if args.quick else 0.5)
            g_nc, g_t = flops / t_nc * 1e-9, flops / t_t * 1e-9
            rows.append([name, threads, g_nc, g_t, t_t / t_nc,
                         f"{100 * g_nc / (args.peak * threads):.0f}%"])
    print_table(f"GEMM float32 GFLOP/s (ISA {C.build_info().get('isa', '?')}); "
                "ratio = nncore/PyTorch speed",
                ["product", "threads", "nncore", "PyTorch", "ratio", "% peak"], rows)


if __name__ == "__main__":
    main()
