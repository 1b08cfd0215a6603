"""nncore vs PyTorch on CNN workloads, side by side in one process on the same data and weights.

conv2d forward and forward+backward GFLOP/s at three shapes, max_pool2d and batch_norm
forward+backward, and training images/s of a LeNet-like model (Adam, batch 64), at 1 and 2
threads. Prints tables and writes JSON.

    python bench/bench_cnn.py [--threads 1 2] [--json bench/results/bench_cnn.json] [--quick]

Forward+backward FLOPs count the forward and both weight and input gradients (3x the forward),
except for the 1-channel first layer, whose input needs no gradient in a network (2x).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import fma_peak_gflops, paired_median_times, print_table, write_json  # noqa: E402

import nncore as nc  # noqa: E402
import nncore.nn.functional as F  # noqa: E402
from nncore import nn, optim  # noqa: E402

CONV_SHAPES = [  # (N, C_in, C_out, H=W), 3x3, padding 1
    (32, 64, 64, 56),
    (64, 1, 32, 28),
    (64, 32, 64, 14),
]


def bench_conv(threads: int, quick: bool) -> list[list]:
    rng = np.random.default_rng(0)
    rows = []
    for shape in CONV_SHAPES:
        rows += _conv_rows(*shape, threads, quick, rng)
    return rows


def _conv_rows(n: int, c: int, k: int, hw: int, threads: int, quick: bool,
               rng: np.random.Generator) -> list[list]:
    x = rng.standard_normal((n, c, hw, hw), dtype=np.float32)
    w = (rng.standard_normal((k, c, 3, 3)) * 0.1).astype(np.float32)
    b = np.zeros(k, np.float32)
    dy = rng.standard_normal((n, k, hw, hw), dtype=np.float32)
    input_grad = c > 1
    xn = nc.tensor(x, requires_grad=input_grad)
    wn, bn = nc.tensor(w, requires_grad=True), nc.tensor(b, requires_grad=True)
    xt = torch.tensor(x, requires_grad=input_grad)
    wt, bt = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    dyt = torch.from_numpy(dy)
    fwd = 2 * n * k * c * 9 * hw * hw
    reps = 3 if quick else 10

    def f_nc() -> None:
        with nc.no_grad():
            F.conv2d(xn, wn, bn, padding=1)

    def f_t() -> None:
        with torch.no_grad():
            torch.nn.functional.conv2d(xt, wt, bt, padding=1)

    def fb_nc() -> None:
        F.conv2d(xn, wn, bn, padding=1).backward(dy)

    def fb_t() -> None:
        torch.nn.functional.conv2d(xt, wt, bt, padding=1).backward(dyt)

    peak = fma_peak_gflops(threads)
    name = f"N{n} {c}->{k} {hw}x{hw} 3x3"
    rows = []
    for kind, a, t, flops in [("fwd", f_nc, f_t, fwd),
                              ("fwd+bwd", fb_nc, fb_t, fwd * (3 if input_grad else 2))]:
        t_nc, t_t = paired_median_times(a, t, repeats=reps, warmup=2, min_time=0.2)
        g_nc, g_t = flops / t_nc * 1e-9, flops / t_t * 1e-9
        rows.append([name, kind, threads, g_nc, g_t, g_nc / g_t,
                     f"{100 * g_nc / peak:.0f}%" if peak else "n/a"])
    return rows


def bench_layers(threads: int, quick: bool) -> list[list]:
    rows = []
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 32, 28, 28), dtype=np.float32)
    xn, xt = nc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    dyp = rng.standard_normal((64, 32, 14, 14), dtype=np.float32)
    dy = rng.standard_normal(x.shape, dtype=np.float32)
    bn_ours, bn_theirs = nn.BatchNorm2d(32), torch.nn.BatchNorm2d(32)
    cases = [
        ("max_pool2d 2x2, N64 C32 28x28",
         lambda: F.max_pool2d(xn, 2).backward(dyp),
         lambda: torch.nn.functional.max_pool2d(xt, 2).backward(torch.from_numpy(dyp))),
        ("batch_norm train, N64 C32 28x28",
         lambda: bn_ours(xn).backward(dy),
         lambda: bn_theirs(xt).backward(torch.from_numpy(dy))),
    ]
    reps = 5 if quick else 20
    for name, a, t in cases:
        t_nc, t_t = paired_median_times(a, t, repeats=reps, warmup=2, min_time=0.2)
        rows.append([name, "fwd+bwd", threads, t_nc * 1e3, t_t * 1e3, t_t / t_nc])
    return rows


def _lenet(torch_mod: bool) -> object:
    m = torch.nn if torch_mod else nn
    return m.Sequential(
        m.Conv2d(1, 32, 3, padding=1), m.ReLU(), m.MaxPool2d(2),
        m.Conv2d(32, 64, 3, padding=1), m.ReLU(), m.MaxPool2d(2),
        m.Flatten(), m.Linear(3136, 128), m.ReLU(), m.Linear(128, 10))


def bench_lenet(threads: int, quick: bool) -> list:
    nc.manual_seed(0)
    ours, theirs = _lenet(False), _lenet(True)
    theirs.load_state_dict({k: torch.from_numpy(v.numpy())
                            for k, v in ours.state_dict().items()})
    opt_nc = optim.Adam(ours.parameters(), lr=1e-3)
    opt_t = torch.optim.Adam(theirs.parameters(), lr=1e-3)
    loss_nc, loss_t = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(2)
    x = rng.random((64, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    xn, yn = nc.Tensor._wrap(x), nc.Tensor._wrap(y)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step_nc() -> None:
        loss = loss_nc(ours(xn), yn)
        opt_nc.zero_grad()
        loss.backward()
        opt_nc.step()

    def step_t() -> None:
        loss = loss_t(theirs(xt), yt)
        opt_t.zero_grad()
        loss.backward()
        opt_t.step()

    reps = 10 if quick else 40
    t_nc, t_t = paired_median_times(step_nc, step_t, repeats=reps, warmup=3)
    return ["LeNet train step, batch 64 (Adam)", threads, 64 / t_nc, 64 / t_t, t_t / t_nc]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results",
                                                       "bench_cnn.json"))
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()

    conv, layers, lenet = [], [], []
    for threads in args.threads:
        nc.set_num_threads(threads)
        torch.set_num_threads(threads)
        conv += bench_conv(threads, args.quick)
        layers += bench_layers(threads, args.quick)
        lenet.append(bench_lenet(threads, args.quick))

    print(f"nncore {nc.__version__} ({nc._C.build_info()['flags'].strip()}), "
          f"torch {torch.__version__}; load average {os.getloadavg()[0]:.1f}")
    print_table("conv2d (float32, pad 1), GFLOP/s; ratio = nncore/PyTorch speed",
                ["shape", "pass", "threads", "nncore", "PyTorch", "ratio", "nncore % FMA peak"],
                conv)
    print_table("pooling and batch norm, forward+backward, median ms",
                ["case", "pass", "threads", "nncore ms", "PyTorch ms", "ratio"], layers)
    print_table("LeNet-like training (conv 1->32, pool, conv 32->64, pool, 3136-128-10), "
                "images/s", ["case", "threads", "nncore", "PyTorch", "ratio"], lenet)
    write_json(args.json, {"conv": conv, "layers": layers, "lenet": lenet,
                           "torch": torch.__version__, "nncore": nc.__version__})
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
