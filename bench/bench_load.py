"""nncore's threads under load: the MNIST MLP train step with N other processes spinning.

For each N in --spinners, N busy-looping processes hold the cores while the 784-128-10 MLP
(batch 64, SGD with momentum) trains: nncore at its default thread count, nncore at 1 thread and
PyTorch at its default, in interleaved rounds (the order rotates every round). Each round times
--steps steps per contender; a table gives the median samples/s over the rounds, the median and
the worst per-round ratio of nncore's default to its own 1-thread speed, and the ratio to
PyTorch. Targets (issue 13): default >= 0.9x 1-thread in the median and >= 0.5x in the worst
round, and >= 2x PyTorch; quiet (N = 0), default never slower than 1 thread.

    python bench/bench_load.py [--spinners 0 1 2] [--rounds 15] [--steps 100]
                               [--json bench/results/bench_load.json]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import print_table, write_json  # noqa: E402

import nncore as nc  # noqa: E402
from nncore import nn, optim  # noqa: E402

BATCH = 64


def _spin() -> None:
    while True:
        pass


def _contenders(images: np.ndarray, labels: np.ndarray) -> dict:
    nc.manual_seed(0)
    ours = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    theirs = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(),
                                 torch.nn.Linear(128, 10))
    theirs.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy())
                            for k, v in ours.state_dict().items()})
    opt_nc = optim.SGD(ours.parameters(), lr=0.01, momentum=0.9)
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.01, momentum=0.9)
    batches = len(images) // BATCH
    xs = [nc.tensor(images[i * BATCH:(i + 1) * BATCH]) for i in range(batches)]
    ys = [nc.tensor(labels[i * BATCH:(i + 1) * BATCH]) for i in range(batches)]
    txs = [torch.from_numpy(images[i * BATCH:(i + 1) * BATCH]) for i in range(batches)]
    tys = [torch.from_numpy(labels[i * BATCH:(i + 1) * BATCH]) for i in range(batches)]

    def nc_step(i: int) -> None:
        opt_nc.zero_grad()
        nn.functional.cross_entropy(ours(xs[i % batches]), ys[i % batches]).backward()
        opt_nc.step()

    def torch_step(i: int) -> None:
        opt_t.zero_grad()
        torch.nn.functional.cross_entropy(theirs(txs[i % batches]), tys[i % batches]).backward()
        opt_t.step()

    return {"default": nc_step, "1 thread": nc_step, "pytorch": torch_step}


def _time_round(name: str, step, steps: int, default_threads: int) -> float:
    """Samples/s over `steps` steps, or fewer (at least 3) when they take over 0.5 s: PyTorch
    under load runs a step in tens of milliseconds."""
    nc.set_num_threads(1 if name == "1 thread" else default_threads)
    step(0)  # warm: the first step after a change of thread count
    t0 = time.perf_counter()
    done = 0
    while done < steps and (done < 3 or time.perf_counter() - t0 < 0.5):
        step(done)
        done += 1
    return done * BATCH / (time.perf_counter() - t0)


def run(spinners: int, rounds: int, steps: int, images: np.ndarray, labels: np.ndarray,
        default_threads: int) -> dict:
    procs = [mp.Process(target=_spin, daemon=True) for _ in range(spinners)]
    for p in procs:
        p.start()
    try:
        time.sleep(0.2)
        fns = _contenders(images, labels)
        names = list(fns)
        for name in names:  # warm-up round
            _time_round(name, fns[name], max(steps // 4, 5), default_threads)
        speeds: dict[str, list[float]] = {n: [] for n in names}
        for r in range(rounds):
            order = names[r % 3:] + names[:r % 3]
            for name in order:
                speeds[name].append(_time_round(name, fns[name], steps, default_threads))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join()
        nc.set_num_threads(default_threads)
    ratios = [d / s for d, s in zip(speeds["default"], speeds["1 thread"])]
    return {
        "spinners": spinners, "rounds": rounds, "steps": steps,
        "samples_per_s": {n: statistics.median(v) for n, v in speeds.items()},
        "ratio_median": statistics.median(ratios), "ratio_worst": min(ratios),
        "vs_pytorch": statistics.median(speeds["default"]) / statistics.median(speeds["pytorch"]),
        "rounds_samples_per_s": speeds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spinners", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    images = rng.random((BATCH * 16, 784), dtype=np.float32)
    labels = rng.integers(0, 10, BATCH * 16)
    default_threads = nc.get_num_threads()
    results = [run(n, args.rounds, args.steps, images, labels, default_threads)
               for n in args.spinners]
    rows = [[r["spinners"], f"{r['samples_per_s']['default']:,.0f}",
             f"{r['samples_per_s']['1 thread']:,.0f}", f"{r['samples_per_s']['pytorch']:,.0f}",
             f"{r['ratio_median']:.2f}", f"{r['ratio_worst']:.2f}", f"{r['vs_pytorch']:.1f}"]
            for r in results]
    print_table(f"MLP 784-128-10 train step, batch {BATCH}: nncore at {default_threads} threads "
                f"(default) vs 1 thread vs PyTorch ({torch.get_num_threads()} threads), "
                f"samples/s, median of {args.rounds} rounds",
                ["spinning", "default", "1 thread", "pytorch", "ratio med", "ratio worst",
                 "x pytorch"], rows)
    if args.json:
        write_json(args.json, {"default_threads": default_threads,
                               "torch_threads": torch.get_num_threads(), "results": results})


if __name__ == "__main__":
    main()
