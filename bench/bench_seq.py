"""nncore vs PyTorch on sequence models, side by side in one process on the same data and weights.

Rows come in groups, one function each: LSTM and GRU, scaled dot-product attention, and a
TransformerEncoderLayer. Every row: forward (no grad) and forward+backward (the gradient of the
output given), median ms at 1 and 2 threads, and nncore's GFLOP/s as a share of the FMA peak.

    python bench/bench_seq.py [--threads 1 2] [--json bench/results/bench_seq.json] [--quick]
                              [--only recurrent attention encoder_layer]

Run it under the build lock: ``flock /tmp/nncore-build.lock python bench/bench_seq.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import fma_peak_gflops, paired_median_times, print_table, write_json  # noqa: E402

import nncore as nc  # noqa: E402
import nncore.nn.functional as F  # noqa: E402
from nncore import nn  # noqa: E402


def _torch_state(module: nn.Module) -> dict:
    """module's state_dict as torch tensors (copies), for the PyTorch twin."""
    return {k: torch.from_numpy(v.detach().numpy().copy()) for k, v in module.state_dict().items()}


def _row(case: str, threads: int, flops: float, run_nc: Callable[[], Any],
         run_torch: Callable[[], Any], quick: bool) -> list:
    reps = 5 if quick else 30
    t_nc, t_t = paired_median_times(run_nc, run_torch, repeats=reps, warmup=3,
                                    min_time=0 if quick else 0.5)
    peak = fma_peak_gflops(threads)
    share = f"{100 * flops / t_nc * 1e-9 / peak:.0f}%" if peak else "n/a"
    return [case, threads, t_nc * 1e3, t_t * 1e3, t_t / t_nc, share]


def bench_recurrent(threads: int, quick: bool) -> list[list]:
    """LSTM and GRU, input 64, hidden 128, batch 32, 50 steps."""
    steps, batch, feat, hidden = 50, 32, 64, 128
    rng = np.random.default_rng(0)
    x = rng.standard_normal((steps, batch, feat)).astype(np.float32)
    g = rng.standard_normal((steps, batch, hidden)).astype(np.float32)
    rows = []
    for mode, gates in (("LSTM", 4), ("GRU", 3)):
        nc.manual_seed(0)
        ours = getattr(nn, mode)(feat, hidden)
        theirs = getattr(torch.nn, mode)(feat, hidden)
        theirs.load_state_dict(_torch_state(ours))
        xn, gn = nc.Tensor._wrap(x), g
        xt, gt = torch.from_numpy(x), torch.from_numpy(g)
        flops = 2.0 * steps * batch * (feat + hidden) * gates * hidden
        shape = f"{mode} T{steps} N{batch} I{feat} H{hidden}"

        def fwd_nc(m=ours, xn=xn) -> None:
            with nc.no_grad():
                m(xn)

        def fwd_t(m=theirs, xt=xt) -> None:
            with torch.no_grad():
                m(xt)

        def train_nc(m=ours, xn=xn, gn=gn) -> None:
            m.zero_grad()
            m(xn)[0].backward(gn)

        def train_t(m=theirs, xt=xt, gt=gt) -> None:
            m.zero_grad()
            m(xt)[0].backward(gt)

        rows.append(_row(f"{shape} forward", threads, flops, fwd_nc, fwd_t, quick))
        rows.append(_row(f"{shape} fwd+bwd", threads, 3 * flops, train_nc, train_t, quick))
    return rows


def bench_attention(threads: int, quick: bool) -> list[list]:
    """Scaled dot-product attention, (batch 32, 4 heads, 64 tokens, head dim 32)."""
    rng = np.random.default_rng(0)
    b, h, t, d = 32, 4, 64, 32
    q, k, v, g = (rng.standard_normal((b, h, t, d), dtype=np.float32) for _ in range(4))
    nq, nk, nv = (nc.tensor(a, requires_grad=True) for a in (q, k, v))
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    tg = torch.from_numpy(g)
    flops = 4.0 * b * h * t * t * d  # q k^T and p v

    def fwd_nc() -> None:
        with nc.no_grad():
            F.scaled_dot_product_attention(nq, nk, nv)

    def fwd_t() -> None:
        with torch.no_grad():
            torch.nn.functional.scaled_dot_product_attention(tq, tk, tv)

    def train_nc() -> None:
        F.scaled_dot_product_attention(nq, nk, nv).backward(g)

    def train_t() -> None:
        torch.nn.functional.scaled_dot_product_attention(tq, tk, tv).backward(tg)

    name = f"attention B{b} H{h} L{t} D{d}"
    return [_row(f"{name} forward", threads, flops, fwd_nc, fwd_t, quick),
            _row(f"{name} fwd+bwd", threads, 3 * flops, train_nc, train_t, quick)]


def bench_encoder_layer(threads: int, quick: bool) -> list[list]:
    """TransformerEncoderLayer(d_model 128, 4 heads, feed-forward 512, dropout 0), 32x64 tokens."""
    d, heads, ff, b, t = 128, 4, 512, 32, 64
    nc.manual_seed(0)
    ours = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, batch_first=True)
    theirs = torch.nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, batch_first=True)
    theirs.load_state_dict(_torch_state(ours))
    rng = np.random.default_rng(1)
    x, g = (rng.standard_normal((b, t, d), dtype=np.float32) for _ in range(2))
    nx, tx, tg = nc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True), \
        torch.from_numpy(g)
    # Per token: q, k, v and output projections, the feed-forward pair, and attention.
    flops = b * t * (2.0 * (4 * d * d + 2 * d * ff) + 4.0 * t * d)

    def fwd_nc() -> None:
        with nc.no_grad():
            ours(nx)

    def fwd_t() -> None:
        with torch.no_grad():
            theirs(tx)

    def train_nc() -> None:
        ours(nx).backward(g)

    def train_t() -> None:
        theirs(tx).backward(tg)

    name = f"encoder layer d{d} h{heads} ff{ff}, {b}x{t}"
    return [_row(f"{name} forward", threads, flops, fwd_nc, fwd_t, quick),
            _row(f"{name} fwd+bwd", threads, 3 * flops, train_nc, train_t, quick)]


GROUPS = [bench_recurrent, bench_attention, bench_encoder_layer]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results",
                                                       "bench_seq.json"))
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--only", choices=[g.__name__[len("bench_"):] for g in GROUPS],
                        nargs="+", help="run only these groups of rows")
    args = parser.parse_args()

    rows: list[list] = []
    for threads in args.threads:
        nc.set_num_threads(threads)
        torch.set_num_threads(threads)
        for group in GROUPS:
            if args.only and group.__name__[len("bench_"):] not in args.only:
                continue
            rows += group(threads, args.quick)
    print(f"nncore {nc.__version__} ({nc._C.build_info()['flags'].strip()}), "
          f"torch {torch.__version__}")
    print_table("Sequence models (float32), median ms; ratio = PyTorch ms / nncore ms",
                ["case", "threads", "nncore ms", "PyTorch ms", "ratio", "nncore % FMA peak"],
                rows)
    write_json(args.json, {"rows": rows, "torch": torch.__version__, "nncore": nc.__version__})
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
