"""nncore vs PyTorch on attention workloads, side by side in one process on the same data.

Scaled dot-product attention (batch 32, 4 heads, 64 tokens, head dim 32) and a
TransformerEncoderLayer (d_model 128, 4 heads, feed-forward 512, batch 32, 64 tokens, dropout 0,
training mode), forward and forward+backward, at 1 and 2 threads. One function per row group.

    python bench/bench_attention.py [--threads 1 2] [--json bench/results/bench_attention.json]
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import median_time, print_table, write_json  # noqa: E402

import nncore as nc  # noqa: E402
import nncore.nn.functional as F  # noqa: E402
from nncore import nn  # noqa: E402


def _pair(name: str, threads: int, ours, theirs, reps: int) -> list:
    t_nc = median_time(ours, repeats=reps, warmup=5)
    t_t = median_time(theirs, repeats=reps, warmup=5)
    return [name, threads, t_nc * 1e3, t_t * 1e3, t_t / t_nc]


def bench_sdpa(threads: int, quick: bool) -> list[list]:
    """Scaled dot-product attention, (32, 4, 64, 32), forward and forward+backward."""
    rng = np.random.default_rng(0)
    shape = (32, 4, 64, 32)
    q, k, v = (rng.standard_normal(shape, dtype=np.float32) for _ in range(3))
    g = rng.standard_normal(shape, dtype=np.float32)
    nq, nk, nv = (nc.tensor(a, requires_grad=True) for a in (q, k, v))
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    tg = torch.from_numpy(g)
    reps = 20 if quick else 100

    def fwd_nc() -> None:
        with nc.no_grad():
            F.scaled_dot_product_attention(nq, nk, nv)

    def fwd_t() -> None:
        with torch.no_grad():
            torch.nn.functional.scaled_dot_product_attention(tq, tk, tv)

    def both_nc() -> None:
        F.scaled_dot_product_attention(nq, nk, nv).backward(g)

    def both_t() -> None:
        torch.nn.functional.scaled_dot_product_attention(tq, tk, tv).backward(tg)

    name = "sdpa 32x4x64x32"
    return [_pair(f"{name} forward", threads, fwd_nc, fwd_t, reps),
            _pair(f"{name} forward+backward", threads, both_nc, both_t, reps)]


def bench_encoder_layer(threads: int, quick: bool) -> list[list]:
    """TransformerEncoderLayer(128, 4, 512, dropout 0), batch 32 x 64 tokens, batch_first."""
    nc.manual_seed(0)
    ours = nn.TransformerEncoderLayer(128, 4, 512, dropout=0.0, batch_first=True)
    theirs = torch.nn.TransformerEncoderLayer(128, 4, 512, dropout=0.0, batch_first=True)
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in
                            ours.state_dict().items()})
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 64, 128), dtype=np.float32)
    g = rng.standard_normal(x.shape, dtype=np.float32)
    nx, tx, tg = nc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True), \
        torch.from_numpy(g)
    reps = 10 if quick else 50

    def fwd_nc() -> None:
        with nc.no_grad():
            ours(nx)

    def fwd_t() -> None:
        with torch.no_grad():
            theirs(tx)

    def both_nc() -> None:
        ours(nx).backward(g)

    def both_t() -> None:
        theirs(tx).backward(tg)

    name = "encoder layer 128/4/512, 32x64"
    return [_pair(f"{name} forward", threads, fwd_nc, fwd_t, reps),
            _pair(f"{name} forward+backward", threads, both_nc, both_t, reps)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results",
                                                       "bench_attention.json"))
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    rows = []
    for threads in args.threads:
        nc.set_num_threads(threads)
        torch.set_num_threads(threads)
        rows += bench_sdpa(threads, args.quick)
        rows += bench_encoder_layer(threads, args.quick)
    print(f"nncore {nc.__version__} ({nc._C.build_info()['flags'].strip()}), "
          f"torch {torch.__version__}")
    print_table("Attention (float32, training mode), median ms; ratio = PyTorch ms / nncore ms",
                ["case", "threads", "nncore ms", "PyTorch ms", "ratio"], rows)
    write_json(args.json, {"attention": rows, "torch": torch.__version__,
                           "nncore": nc.__version__})
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
