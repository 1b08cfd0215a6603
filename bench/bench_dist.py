"""Data parallelism over MPI: nncore.distributed's allreduce vs PyTorch's gloo, and DDP scaling.

    python bench/bench_dist.py [--json bench/results/bench_dist.json] [--quick]

It launches itself under ``mpiexec`` (1 thread per rank) and prints three tables:

1. allreduce (SUM, float32, 2 ranks) latency and bus bandwidth, nncore (MPI) vs
   ``torch.distributed`` with gloo, both in the same two processes on the same buffers;
2. MNIST MLP and LeNet training epoch time (60,000 images, timed steps extrapolated to an
   epoch) on 1 rank vs 2 ranks, and the scaling efficiency T1 / (2 * T2): strong scaling
   (the global batch 64 split 32 + 32, as ``mpiexec -n 2 nncore train``) and weak scaling
   (64 per rank);
3. the share of the gradient allreduce hidden behind backward: step time with buckets started
   during backward vs one bucket reduced after backward, over the allreduce's own time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
from common import print_table, write_json  # noqa: E402

SIZES = [1_000, 10_000, 100_000, 1_000_000, 10_000_000]
EPOCH = 60_000


# ---- workers (under mpiexec) ----
def _timed(fn, barrier, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        barrier()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def worker_allreduce(quick: bool) -> dict:
    import torch
    import torch.distributed as tdist

    import nncore.distributed as dist

    rank, size = dist.get_rank(), dist.get_world_size()
    port = [_free_port() if rank == 0 else 0]
    dist.broadcast_object_list(port, src=0)
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    tdist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port[0]}", rank=rank,
                             world_size=size)
    rows = []
    for n in SIZES:
        buf = np.ones(n, dtype=np.float32)
        tbuf = torch.from_numpy(buf)  # the same memory
        reps = max(5, min(200 if not quick else 50, 20_000_000 // n))
        for _ in range(3):
            dist.all_reduce(buf)
            tdist.all_reduce(tbuf)
        t_mpi = _timed(lambda b=buf: dist.all_reduce(b), dist.barrier, reps)
        t_gloo = _timed(lambda b=tbuf: tdist.all_reduce(b), dist.barrier, reps)
        rows.append({"floats": n, "mpi_s": t_mpi, "gloo_s": t_gloo})
    tdist.destroy_process_group()
    return {"allreduce": rows}


def _models(name: str):
    from nncore import nn

    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))


def worker_train(model_name: str, batch: int, steps: int, overlap: bool) -> dict:
    import nncore as nc
    import nncore.distributed as dist
    import nncore.nn.parallel.distributed as ddp_mod
    from nncore import nn, optim

    size = dist.get_world_size()
    nc.manual_seed(0)
    model = _models(model_name)
    if size > 1:
        if not overlap:
            # NOTE: one bucket holding every gradient: its allreduce starts only after the
            # last gradient, so nothing overlaps backward.
            ddp_mod._FIRST_BUCKET_BYTES = 1 << 40
        model = ddp_mod.DistributedDataParallel(model, bucket_cap_mb=None if overlap else 1e6)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(dist.get_rank())
    x = nc.Tensor._wrap(rng.random((batch, 1, 28, 28), dtype=np.float32))
    y = nc.Tensor._wrap(rng.integers(0, 10, batch))

    def step() -> None:
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    t_step = _timed(step, dist.barrier, steps)
    out = {"step_s": t_step}
    if size > 1:
        out["buckets"] = len(model._buckets)
        grads = np.concatenate([p.grad.numpy().ravel() for p in model.parameters()])
        out["allreduce_s"] = _timed(lambda: dist.all_reduce(grads), dist.barrier, steps)
        out["backward_only_s"] = _backward_time(model.module, loss_fn, x, y, steps,
                                                dist.barrier)
    return out


def _backward_time(module, loss_fn, x, y, steps: int, barrier) -> float:
    def fb() -> None:
        loss = loss_fn(module(x), y)
        loss.backward()

    return _timed(fb, barrier, steps)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_main(argv: list[str]) -> None:
    import nncore as nc
    import nncore.distributed as dist

    nc.set_num_threads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    dist.init_process_group(backend="mpi")
    what = argv[0]
    if what == "allreduce":
        result = worker_allreduce(quick=argv[1] == "quick")
    else:
        result = worker_train(argv[1], int(argv[2]), int(argv[3]), argv[4] == "overlap")
    if dist.get_rank() == 0:
        print("RESULT " + json.dumps(result), flush=True)
    dist.destroy_process_group()


# ---- driver ----
def _mpiexec() -> list[str]:
    exe = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    path = exe if os.path.exists(exe) else shutil.which("mpiexec")
    if path is None:
        raise SystemExit("bench_dist: mpiexec not found (pip install 'nncore[mpi]')")
    return [path]


def launch(n: int, *args: str) -> dict:
    env = dict(os.environ, NNCORE_NUM_THREADS="1", OMP_NUM_THREADS="1")
    cmd = [*_mpiexec(), "-n", str(n), sys.executable, os.path.abspath(__file__), "--worker",
           *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env,
                          stdin=subprocess.DEVNULL)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise SystemExit(f"bench_dist: {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results",
                                                       "bench_dist.json"))
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    steps = "20" if args.quick else "60"

    ar = launch(2, "allreduce", "quick" if args.quick else "full")["allreduce"]
    rows = []
    for r in ar:
        nbytes = 4 * r["floats"]
        # NOTE: bus bandwidth of a ring allreduce, 2 (n-1)/n x bytes / time (NCCL's busbw).
        bw = lambda t, b=nbytes: 2 * (2 - 1) / 2 * b / t / 1e9  # noqa: E731
        rows.append([f"{r['floats']:,}", r["mpi_s"] * 1e3, r["gloo_s"] * 1e3,
                     r["gloo_s"] / r["mpi_s"], bw(r["mpi_s"]), bw(r["gloo_s"])])
    print_table("allreduce SUM float32, 2 ranks (ms; bus GB/s)",
                ["floats", "nncore MPI ms", "gloo ms", "gloo/MPI", "MPI GB/s", "gloo GB/s"],
                rows)

    train_rows, overlap_rows, raw = [], [], {}
    for model in ("mlp", "lenet"):
        one = launch(1, "train", model, "64", steps, "overlap")
        strong = launch(2, "train", model, "32", steps, "overlap")
        strong_flat = launch(2, "train", model, "32", steps, "flat")
        weak = launch(2, "train", model, "64", steps, "overlap")
        one32 = launch(1, "train", model, "32", steps, "overlap")
        raw[model] = {"1rank_b64": one, "2rank_b32": strong, "2rank_b32_one_bucket":
                      strong_flat, "2rank_b64": weak, "1rank_b32": one32}
        steps_1 = EPOCH / 64
        t1 = one["step_s"] * steps_1
        t2_strong = strong["step_s"] * steps_1  # 64 images per global step
        t2_weak = weak["step_s"] * EPOCH / 128
        train_rows.append([model, t1, t2_strong, t1 / (2 * t2_strong), t2_weak,
                           t1 / (2 * t2_weak)])
        comm = strong["allreduce_s"]
        # NOTE: with one bucket in both runs (a model under 1 MiB of gradients) nothing can
        # overlap and the difference is noise: no share is reported.
        hidden = ((strong_flat["step_s"] - strong["step_s"]) / comm
                  if comm > 0 and strong["buckets"] > 1 else float("nan"))
        overlap_rows.append([model, strong["buckets"], strong["step_s"] * 1e3,
                             strong_flat["step_s"] * 1e3, comm * 1e3, one32["step_s"] * 1e3,
                             hidden])
    print_table("MNIST epoch (60,000 images), 1 thread per rank (s; efficiency = T1 / 2 T2)",
                ["model", "1 rank b64", "2 ranks b32+32", "strong eff.", "2 ranks b64+64",
                 "weak eff."], train_rows)
    print_table("overlap: 2 ranks, batch 32 per rank (ms per step)",
                ["model", "buckets", "buckets in backward", "one bucket after", "allreduce alone",
                 "1 rank b32 (no comm)", "share hidden"], overlap_rows)
    write_json(args.json, {"allreduce": ar, "train": raw})


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2:])
    else:
        main()
