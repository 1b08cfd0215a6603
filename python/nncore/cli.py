"""The ``nncore`` command: train, profile, runs, report, bench peak and info."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np


def _optimizer(name: str, params: Any, lr: float, weight_decay: float | None = None) -> Any:
    from nncore import optim

    extra = {} if weight_decay is None else {"weight_decay": weight_decay}
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=0.9, **extra)
    makers = {"adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop,
              "adagrad": optim.Adagrad}
    return makers[name](params, lr=lr, **extra)


def _mnist_splits(data: str | None, seed: int) -> tuple[Any, Any, str]:
    from nncore.data import random_split
    from nncore.data.datasets import MNIST

    train = MNIST(root=data, train=True)
    if getattr(train, "using_sample", False):
        # NOTE: the bundled sample is the 10k test split; hold part of it out so the reported
        # accuracy is still on images the model never trained on.
        train, test = random_split(train, [8000, 2000], seed=seed)
        return train, test, "bundled 10k sample (MNIST test split): 8,000 train / 2,000 test"
    test = MNIST(root=data, train=False)
    return train, test, f"MNIST from {train.source}: {len(train):,} train / {len(test):,} test"


def _schedule(name: str, optimizer: Any, steps: int, warmup: float = 0.2) -> tuple[Any, str]:
    from nncore import optim

    if name == "cosine":
        # NOTE: decaying to zero over the run, per batch, is worth ~0.5% test accuracy in 3 epochs.
        return optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps), "batch"
    if name == "onecycle":
        lrs = [group["lr"] for group in optimizer.param_groups]
        return optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lrs, total_steps=steps,
                                             pct_start=warmup), "batch"
    if name == "none":
        return None, "epoch"
    raise ValueError(f"nncore train: unknown schedule {name!r} (expected 'cosine', 'onecycle' "
                     f"or 'none')")


def _shift_transform(max_shift: int) -> Any:
    """The training batches' augmentation: random shifts drawn from nncore's default generator
    (so ``--seed`` fixes them and a checkpoint resumes them); None without shifts."""
    if not max_shift:
        return None
    from nncore.random import numpy_generator
    from nncore.train.recipes import random_shift

    return lambda x, y: (random_shift(x, max_shift, numpy_generator(None)), y)


def _settings(recipe: Any, opt_name: str, lr: float, batch: str, epochs: int) -> str:
    """The training settings in one line, as ``nncore train`` prints them."""
    parts = [f"{opt_name} lr={lr} ({recipe.schedule})"]
    if recipe.weight_decay is not None:
        parts.append(f"weight decay {recipe.weight_decay}")
    if recipe.label_smoothing:
        parts.append(f"label smoothing {recipe.label_smoothing}")
    if recipe.shift:
        parts.append(f"random shifts of up to {recipe.shift} px")
    if recipe.clip_grad_norm:
        parts.append(f"gradient norm clipped to {recipe.clip_grad_norm}")
    return ", ".join(parts + [f"batch {batch}", f"{epochs} epochs"])


def _start_world() -> Any:
    """Join a process group when an MPI launcher (mpiexec, srun) started several ranks; returns
    the group or None for a single process."""
    from nncore import distributed as dist

    if dist.launched_world_size() < 2:
        return None
    dist.init_process_group(backend="mpi")
    from nncore.distributed import _core

    return _core.current()


def _parallel(model: Any, train_set: Any, test_set: Any, batch_size: int, seed: int,
              world: Any) -> tuple[Any, Any, Any]:
    """The model and the training and test loaders of one process, or of this rank of an MPI
    world (the model wrapped in DistributedDataParallel, each loader on this rank's shard)."""
    from nncore.data import DataLoader

    if world is None:
        return (model, DataLoader(train_set, batch_size=batch_size, shuffle=True, seed=seed),
                DataLoader(test_set, batch_size=1000))
    from nncore.nn.parallel import DistributedDataParallel
    from nncore.utils.data import DistributedSampler

    # NOTE: --batch-size is the global batch, split among ranks, so the run follows the
    # single-process recipe (same steps, same hyperparameters) with each rank on a shard.
    loader = DataLoader(train_set, batch_size=batch_size // world.size,
                        sampler=DistributedSampler(train_set, seed=seed))
    test_loader = DataLoader(test_set, batch_size=1000,
                             sampler=DistributedSampler(test_set, shuffle=False))
    return DistributedDataParallel(model), loader, test_loader


def cmd_train(args: argparse.Namespace) -> int:
    import nncore as nc
    from nncore.train import LambdaCallback, LearningRateMonitor, ModelCheckpoint, evaluate, fit
    from nncore.train.recipes import RECIPES

    recipe = RECIPES[args.recipe]
    world = _start_world()
    rank, size = (world.rank, world.size) if world is not None else (0, 1)
    say = print if rank == 0 else (lambda *a, **k: None)
    if args.threads:
        nc.set_num_threads(args.threads)
    elif world is not None:
        # NOTE: ranks on one machine share its cores: split them, never oversubscribe.
        nc.set_num_threads(max(1, nc.get_num_threads() // world.local_size))
    nc.manual_seed(args.seed)
    train_set, test_set, source = (recipe.data or _mnist_splits)(args.data, args.seed)
    epochs = args.epochs or recipe.epochs
    batch_size = args.batch_size or recipe.batch_size
    if batch_size % size:
        raise SystemExit(f"nncore train: the batch size {batch_size} must divide among "
                         f"{size} ranks")
    lr = args.lr or recipe.lr
    opt_name = args.optimizer or recipe.optimizer
    model = recipe.build()
    # NOTE: the recipe's weight decay belongs to its optimizer; another --optimizer keeps its own.
    decay = recipe.weight_decay if opt_name == recipe.optimizer else None
    optimizer = _optimizer(opt_name, model.parameters(), lr, decay)
    loss_fn = recipe.make_loss()
    model, loader, test_loader = _parallel(model, train_set, test_set, batch_size, args.seed,
                                           world)
    scheduler, interval = _schedule(recipe.schedule, optimizer, epochs * len(loader),
                                    recipe.warmup)
    n_params = sum(p.numel() for p in model.parameters())
    say(f"{args.recipe}: {recipe.description}")
    say(f"data: {source}")
    per_rank = f" ({batch_size // size} per rank x {size} MPI ranks)" if size > 1 else ""
    settings = _settings(recipe, opt_name, lr, f"{batch_size}{per_rank}", epochs)
    say(f"model: {n_params:,} parameters; {settings}, {nc.get_num_threads()} threads")

    def report(epoch: int, logs: dict[str, float]) -> None:
        scores = " ".join(f"{k[4:] if k.startswith('val_') else k} {v:.4f}"
                          for k, v in logs.items() if k.startswith("val_"))
        say(f"epoch {epoch + 1}: train loss {logs['loss']:.4f} | test {scores} | "
            f"{logs['samples_per_s']:,.0f} samples/s")

    callbacks = [LearningRateMonitor()]
    if args.quiet:  # NOTE: otherwise fit prints its own line per epoch under the bar
        callbacks.append(LambdaCallback(on_epoch_end=report))
    if args.checkpoint_dir:
        callbacks.append(ModelCheckpoint(args.checkpoint_dir, monitor="val_loss"))
    start = time.perf_counter()
    hparams = {"recipe": args.recipe, "seed": args.seed, "schedule": recipe.schedule,
               "label_smoothing": recipe.label_smoothing, "shift": recipe.shift,
               "clip_grad_norm": recipe.clip_grad_norm, "data": source, "ranks": size}
    history = fit(model, loss_fn, optimizer, loader, test_loader, epochs=epochs,
                  callbacks=callbacks, scheduler=scheduler, scheduler_interval=interval,
                  run_dir=args.run_dir, hparams=hparams, resume_from=args.resume,
                  progress=not args.quiet, clip_grad_norm=recipe.clip_grad_norm,
                  batch_transform=_shift_transform(recipe.shift))
    # NOTE: the last epoch's validation already evaluated the final weights on the test set
    # (nothing trains after it); a second pass would only cost time.
    test = {k[4:]: v[-1] for k, v in history.history.items() if k.startswith("val_") and v}
    if not test:
        test = evaluate(model, loss_fn, test_loader)
    elapsed = time.perf_counter() - start
    if "accuracy" in test:
        say(f"final test accuracy: {100 * test['accuracy']:.2f}% ({elapsed:.1f} s)")
    else:
        say(f"final test loss: {test['loss']:.4f} ({elapsed:.1f} s)")
    if world is not None:
        from nncore import distributed as dist

        dist.destroy_process_group()
    return 0



def cmd_runs(args: argparse.Namespace) -> int:
    from nncore.train import runs

    try:
        if args.action == "list":
            print(runs.list_runs(args.dirs or ["runs"]))
        elif args.action == "show":
            for i, d in enumerate(args.dirs):
                print(("\n" if i else "") + runs.show_run(d))
        else:
            print(runs.compare_runs(args.dirs))
    except ValueError as e:
        print(f"nncore runs: {e}", file=sys.stderr)
        return 2
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    import nncore as nc
    from nncore.data import DataLoader
    from nncore.profiler import profile
    from nncore.train.recipes import RECIPES

    recipe = RECIPES[args.recipe]
    if args.threads:
        nc.set_num_threads(args.threads)
    nc.manual_seed(args.seed)
    train_set, _, source = _mnist_splits(args.data, args.seed)
    model = recipe.build()
    model.train()
    optimizer = _optimizer(recipe.optimizer, model.parameters(), recipe.lr, recipe.weight_decay)
    loss_fn = recipe.make_loss()
    loader = DataLoader(train_set, batch_size=args.batch_size or recipe.batch_size, shuffle=True,
                        seed=args.seed)
    batches = iter(loader)

    def step() -> None:
        nonlocal batches
        try:
            x, y = next(batches)
        except StopIteration:
            batches = iter(loader)
            x, y = next(batches)
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    # NOTE: the first steps pay one-off costs (allocations, thread start-up) a steady state
    # never sees; they run before the profiler starts.
    for _ in range(args.warmup):
        step()
    with profile(record_shapes=args.group_by_shape) as prof:
        for _ in range(args.steps):
            step()
    print(f"{args.recipe}: {args.steps} training steps, batch {loader.batch_size}, "
          f"{nc.get_num_threads()} threads; data: {source}")
    print(prof.table(sort_by=args.sort_by, group_by_shape=args.group_by_shape))
    trace = args.trace or f"nncore-profile-{args.recipe}.json"
    prof.export_chrome_trace(trace)
    print(f"trace: {trace} (open in https://ui.perfetto.dev or chrome://tracing)")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from nncore.profiler import load_peak, peak_cache_path

    peak = load_peak(force=args.force, quick=args.quick)
    print(f"{peak['cpu']} ({peak['simd']}), measured {peak['measured_at']}")
    print(f"FMA loop: {peak.get('fma_lanes', '?')}-lane FP32 FMAs of module {peak.get('module')} "
          f"(ISA {peak.get('isa')})")
    print(f"{'threads':>7}  {'FP32 FMA GFLOP/s':>16}  {'triad GB/s':>10}")
    for threads in sorted(peak["fma_gflops"], key=int):
        print(f"{threads:>7}  {peak['fma_gflops'][threads]:>16.1f}  "
              f"{peak['bandwidth_gbs'][threads]:>10.1f}")
    print(f"cached in {peak_cache_path()} (--force re-measures)")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import nncore as nc

    info = nc._C.build_info()
    rows = [
        ("nncore", info["version"]),
        ("numpy", np.__version__),
        ("python", sys.version.split()[0]),
        ("compiler", info["compiler"]),
        ("flags", info["flags"].strip()),
        ("SIMD", f"{info['simd']} (Eigen: {info['eigen_simd']})"),
        ("module", nc._isa.describe()),
        ("Eigen", info["eigen"]),
        ("OpenMP", f"{info['openmp']}, {nc.get_num_threads()} threads of "
                   f"{info['omp_num_procs']} processors"),
    ]
    for key, value in rows:
        print(f"{key:>9}: {value}")
    return 0


def _recipe_model_and_data(run_dir: str, data: str | None, examples: int) -> tuple:
    """For a run of ``nncore train <recipe> --run-dir``: the recipe's model with the run's final
    weights and the first test images, so the report can add a confusion matrix and saliency
    maps. (None, None, None) for any other run directory."""
    import json
    from pathlib import Path

    from nncore.data import DataLoader
    from nncore.serialization import load_safetensors
    from nncore.train.recipes import RECIPES

    run = Path(run_dir)
    try:
        hparams = json.loads((run / "hparams.json").read_text())
    except (OSError, ValueError):
        return None, None, None
    recipe = RECIPES.get(str(hparams.get("recipe")))
    weights = run / "weights.safetensors"
    if recipe is None or recipe.data is not None or not weights.is_file():
        return None, None, None
    model = recipe.build()
    model.load_state_dict(load_safetensors(weights))
    _, test, _ = _mnist_splits(data, int(hparams.get("seed", 0)))
    batch = next(iter(DataLoader(test, batch_size=examples)))
    return model.eval(), batch[0], batch[1]


def cmd_report(args: argparse.Namespace) -> int:
    from nncore.report import build_report

    try:
        model, x, y = _recipe_model_and_data(args.run_dir, args.data, 1000)
        print(f"wrote {build_report(args.run_dir, out=args.out, model=model, x=x, y=y)}")
    except ValueError as e:
        print(f"nncore report: {e}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``nncore`` command."""
    from nncore.train.recipes import RECIPES

    parser = argparse.ArgumentParser(prog="nncore", description="nncore command line")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a recipe and report test accuracy")
    train.add_argument("recipe", choices=sorted(RECIPES))
    train.add_argument("--epochs", type=int, help="passes over the training set")
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float, help="learning rate")
    train.add_argument("--optimizer", choices=["sgd", "adam", "adamw", "rmsprop", "adagrad"])
    train.add_argument("--threads", type=int, help="native kernel threads")
    train.add_argument("--data", help="folder with the MNIST IDX files (else $NNCORE_DATA)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--run-dir", help="write an experiment record (nncore runs show DIR)")
    train.add_argument("--checkpoint-dir", help="write best.safetensors and last.ckpt there")
    train.add_argument("--resume", help="continue from a checkpoint (last.ckpt)")
    train.set_defaults(func=cmd_train)
    runs = sub.add_parser("runs", help="list, show or compare experiment records")
    runs.add_argument("action", choices=["list", "show", "compare"])
    runs.add_argument("dirs", nargs="*", help="run directories or folders of them")
    runs.set_defaults(func=cmd_runs)
    prof = sub.add_parser("profile", help="profile training steps of a recipe")
    prof.add_argument("recipe", choices=sorted(RECIPES))
    prof.add_argument("--steps", type=int, default=20, help="profiled training steps")
    prof.add_argument("--warmup", type=int, default=2, help="unprofiled steps first")
    prof.add_argument("--trace", help="Chrome trace path (default nncore-profile-<recipe>.json)")
    prof.add_argument("--sort-by", default="total",
                      choices=["total", "self", "calls", "mean", "gflops", "gbs", "name"])
    prof.add_argument("--group-by-shape", action="store_true")
    prof.add_argument("--batch-size", type=int)
    prof.add_argument("--threads", type=int, help="native kernel threads")
    prof.add_argument("--data", help="folder with the MNIST IDX files (else $NNCORE_DATA)")
    prof.add_argument("--seed", type=int, default=0)
    prof.set_defaults(func=cmd_profile)
    bench = sub.add_parser("bench", help="machine microbenchmarks")
    bench.add_argument("what", choices=["peak"], help="peak: FP32 FMA peak and memory bandwidth")
    bench.add_argument("--force", action="store_true", help="re-measure instead of the cache")
    bench.add_argument("--quick", action="store_true", help="shorter, rougher measurement")
    bench.set_defaults(func=cmd_bench)
    info = sub.add_parser("info", help="build and machine facts")
    info.set_defaults(func=cmd_info)
    report = sub.add_parser("report", help="HTML report of a run directory")
    report.add_argument("run_dir")
    report.add_argument("--out", help="output file (default <run_dir>/report.html)")
    report.add_argument("--data", help="MNIST folder, for runs of a recipe (else $NNCORE_DATA)")
    report.set_defaults(func=cmd_report)
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size", "threads", "steps"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
    if getattr(args, "lr", None) is not None and args.lr <= 0:
        parser.error(f"--lr must be positive, got {args.lr}")
    if args.command == "runs" and args.action != "list" and not args.dirs:
        parser.error(f"runs {args.action}: give one or more run directories")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
