"""nncore vs PyTorch on the MLP workload, side by side in one process on the same data.

GEMM GFLOP/s (64x784x128, 256x784x128, 1024^3), the 784-128-10 MLP train step at batch 64 and
256, and a full MNIST epoch (the median of alternating epochs), at 1 and 2 threads. Prints
tables and writes JSON.

    python bench/bench_mlp.py [--threads 1 2] [--json bench/results/bench_mlp.json] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import (  # noqa: E402
    fma_peak_gflops,
    paired_median_times,
    print_table,
    write_json,
)

import nncore as nc  # noqa: E402
from nncore import nn, optim  # noqa: E402
from nncore.data import DataLoader  # noqa: E402
from nncore.data.datasets import MNIST  # noqa: E402


def bench_gemm(threads: int, quick: bool) -> list[list]:
    rows = []
    rng = np.random.default_rng(0)
    for m, k, n in [(64, 784, 128), (256, 784, 128), (1024, 1024, 1024)]:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        flops = 2 * m * k * n
        reps = 5 if quick else 30
        t_nc, t_torch = paired_median_times(lambda a=a, b=b: nc._C.matmul_forward(a, b),
                                            lambda ta=ta, tb=tb: torch.mm(ta, tb),
                                            repeats=reps, min_time=0.3)
        peak = fma_peak_gflops(threads)
        g_nc, g_t = flops / t_nc * 1e-9, flops / t_torch * 1e-9
        rows.append([f"{m}x{k}x{n}", threads, g_nc, g_t, t_torch / t_nc,
                     f"{100 * g_nc / peak:.0f}%" if peak else "n/a"])
    return rows


def _models(seed: int) -> tuple[nn.Module, torch.nn.Module]:
    nc.manual_seed(seed)
    ours = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    theirs = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 128), torch.nn.ReLU(),
                                 torch.nn.Linear(128, 10))
    # state_dict values are nncore Tensors: PyTorch takes their arrays
    theirs.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in ours.state_dict().items()})
    return ours, theirs


def bench_step(threads: int, batch: int, images: np.ndarray, labels: np.ndarray,
               quick: bool) -> list:
    ours, theirs = _models(0)
    opt_nc = optim.SGD(ours.parameters(), lr=0.01, momentum=0.9)
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.01, momentum=0.9)
    loss_nc, loss_t = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    x, y = images[:batch], labels[:batch]
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

    reps = 20 if quick else 200
    t_nc, t_t = paired_median_times(step_nc, step_t, repeats=reps, warmup=10)
    return [f"batch {batch}", threads, t_nc * 1e3, t_t * 1e3, t_t / t_nc]


def bench_epoch(threads: int, batch: int, train: MNIST, quick: bool) -> list:
    ours, theirs = _models(1)
    opt_nc = optim.SGD(ours.parameters(), lr=0.01, momentum=0.9)
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.01, momentum=0.9)
    loss_nc, loss_t = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    # NOTE: without NNCORE_DATA the training split may be the 10k-image packaged sample
    n = min(12_000, len(train)) if quick else len(train)
    images = torch.from_numpy(train.data[:n])
    labels = torch.from_numpy(train.targets[:n])
    subset = nc.data.TensorDataset(nc.Tensor._wrap(train.data[:n]),
                                   nc.Tensor._wrap(train.targets[:n]))

    def epoch_nc() -> None:
        for x, y in DataLoader(subset, batch_size=batch, shuffle=True, seed=0):
            loss = loss_nc(ours(x), y)
            opt_nc.zero_grad()
            loss.backward()
            opt_nc.step()

    # PyTorch's fastest plain loop: tensors already in memory, a permutation, slicing.
    def epoch_t() -> None:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
        for i in range(0, n, batch):
            idx = order[i:i + batch]
            loss = loss_t(theirs(images[idx]), labels[idx])
            opt_t.zero_grad()
            loss.backward()
            opt_t.step()

    # NOTE: whole epochs alternating, the median of several: a single pass of each moved the
    # ratio by +-15% from run to run on this shared VM.
    t_nc, t_t = paired_median_times(epoch_nc, epoch_t, repeats=3 if quick else 5, warmup=1)
    return [f"epoch, batch {batch} ({n:,} images)", threads, n / t_nc, n / t_t, t_t / t_nc]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results",
                                                       "bench_mlp.json"))
    parser.add_argument("--quick", action="store_true", help="fewer repeats and a short epoch")
    args = parser.parse_args()

    train = MNIST(train=True)
    gemm, steps, epochs = [], [], []
    for threads in args.threads:
        nc.set_num_threads(threads)
        torch.set_num_threads(threads)
        gemm += bench_gemm(threads, args.quick)
        for batch in (64, 256):
            steps.append(bench_step(threads, batch, train.data, train.targets, args.quick))
        for batch in (64, 256):
            epochs.append(bench_epoch(threads, batch, train, args.quick))

    print(f"nncore {nc.__version__} ({nc._C.build_info()['flags'].strip()}), "
          f"torch {torch.__version__}")
    print_table("GEMM (float32), GFLOP/s; ratio = nncore/PyTorch speed",
                ["shape", "threads", "nncore", "PyTorch", "ratio", "nncore % FMA peak"], gemm)
    print_table("MLP 784-128-10 train step (SGD momentum), median ms",
                ["case", "threads", "nncore ms", "PyTorch ms", "ratio"], steps)
    print_table("MLP full epoch on MNIST, samples/s",
                ["case", "threads", "nncore", "PyTorch", "ratio"], epochs)
    write_json(args.json, {"gemm": gemm, "step": steps, "epoch": epochs,
                           "torch": torch.__version__, "nncore": nc.__version__})
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
