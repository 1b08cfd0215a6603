"""The supervised training loop: ``fit``, ``train_epoch``, ``evaluate`` and ``History``.

One implementation serves the CLI recipes, user scripts and the callbacks. The per-batch path
does only what training needs (forward, loss, backward, step, a running loss sum); metrics are
computed once per epoch from the outputs kept by reference, because small models train at
~100k samples/s and per-batch Python work shows.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from nncore import metrics as _metrics
from nncore.autograd import no_grad
from nncore.nn.module import Module
from nncore.nn.utils import clip_grad_norm_
from nncore.optim.lr_scheduler import ReduceLROnPlateau
from nncore.tensor import Tensor
from nncore.train.callbacks import Callback, wants_batch_end

Metric = Callable[[np.ndarray, np.ndarray], float]


class History(Callback):
    """Per-epoch values of every logged quantity, as Keras' ``History``.

    Attributes:
        history: ``{"loss": [...], "val_loss": [...], "accuracy": [...], ...}``, one entry per
            epoch (NaN where a quantity was missing that epoch).
        epoch: the 0-based indices of the recorded epochs.
        mitigation: the bias-mitigation audit record of ``fit(..., mitigation=...)``, or None.
    """

    order = -100

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.mitigation: dict[str, Any] | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        n = len(self.epoch)
        for key in logs:
            self.history.setdefault(key, [float("nan")] * n)
        for key, values in self.history.items():
            values.append(float(logs.get(key, float("nan"))))
        self.epoch.append(epoch)

    def rows(self) -> list[dict[str, float]]:
        """One dict per epoch: ``{"epoch": e, "loss": ..., ...}``."""
        return [{"epoch": e, **{k: v[i] for k, v in self.history.items()}}
                for i, e in enumerate(self.epoch)]

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = {k: [float(x) for x in v] for k, v in state["history"].items()}
        self.epoch = [int(e) for e in state["epoch"]]

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"


# ---- data parallel (nncore.distributed) ----
def _world() -> Any:
    """The default process group when one with several ranks is running, else None."""
    from nncore.distributed import _core

    grp = _core.current()
    return grp if grp is not None and grp.size > 1 else None


def _sharded(loader: Any) -> bool:
    """Whether ``loader`` reads one rank's shard (a ``DistributedSampler``), so an epoch's
    results are the union of every rank's."""
    from nncore.utils.data.distributed import DistributedSampler

    return _world() is not None and isinstance(getattr(loader, "sampler", None),
                                               DistributedSampler)


def _combine(total: float, seen: float, ys: list[np.ndarray], outs: list[np.ndarray]
             ) -> tuple[float, float, list[np.ndarray], list[np.ndarray]]:
    """Loss sum, sample count and kept outputs of every rank (rank order), on every rank."""
    from nncore import distributed as dist

    sums = np.array([total, seen], dtype=np.float64)
    dist.all_reduce(sums)
    parts: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, (ys, outs))
    return (float(sums[0]), float(sums[1]), [y for p in parts for y in p[0]],
            [o for p in parts for o in p[1]])


def _unwrap(model: Module) -> Module:
    """The module inside a ``DistributedDataParallel`` wrapper (what checkpoints hold)."""
    from nncore.nn.parallel.distributed import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


# ---- metrics ----
def _labels(name: str, y: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(true labels, predicted labels) from class logits ``(N, C)`` or one binary logit."""
    if out.ndim == 2 and out.shape[1] > 1:
        if y.ndim != 1 or y.shape[0] != out.shape[0]:
            raise ValueError(f"{name}: outputs {out.shape} are class scores, so targets must be "
                             f"labels of shape ({out.shape[0]},), got {y.shape}")
        return y, out.argmax(1)
    pred = (out.reshape(out.shape[0], -1)[:, 0] > 0).astype(np.int64)
    return y.reshape(y.shape[0], -1)[:, 0].astype(np.int64), pred


def _classification(fn: Callable[..., float], name: str, **kw: Any) -> Metric:
    def metric(y: np.ndarray, out: np.ndarray) -> float:
        t, p = _labels(name, y, out)
        return fn(t, p, **kw)
    metric.__name__ = name
    return metric


def _regression(fn: Callable[[Any, Any], float], name: str) -> Metric:
    def metric(y: np.ndarray, out: np.ndarray) -> float:
        return fn(y.reshape(y.shape[0], -1), out.reshape(out.shape[0], -1))
    metric.__name__ = name
    return metric


METRICS: dict[str, Metric] = {
    "accuracy": _classification(_metrics.accuracy, "accuracy"),
    "f1_macro": _classification(_metrics.f1, "f1_macro", average="macro"),
    "precision_macro": _classification(_metrics.precision, "precision_macro", average="macro"),
    "recall_macro": _classification(_metrics.recall, "recall_macro", average="macro"),
    "mae": _regression(_metrics.mae, "mae"),
    "mse": _regression(_metrics.mse, "mse"),
    "rmse": _regression(_metrics.rmse, "rmse"),
    "r2": _regression(_metrics.r2, "r2"),
}


def _resolve_metrics(name: str, metrics: Sequence[str | Metric] | None
                     ) -> list[tuple[str, Metric]] | None:
    """[(name, fn)]; None means 'accuracy when the targets are integer labels' (decided on
    the first batch)."""
    if metrics is None:
        return None
    if isinstance(metrics, (str, bytes)) or not isinstance(metrics, Sequence):
        raise TypeError(f"{name}: metrics must be a list of names or callables, got {metrics!r}")
    out = []
    for m in metrics:
        if isinstance(m, str):
            if m not in METRICS:
                raise ValueError(f"{name}: unknown metric {m!r} (known: {sorted(METRICS)}; or "
                                 f"pass a callable fn(y_true, outputs) -> float)")
            out.append((m, METRICS[m]))
        elif callable(m):
            out.append((getattr(m, "__name__", type(m).__name__), m))
        else:
            raise TypeError(f"{name}: metric {m!r} is neither a name nor a callable")
    return out


def _default_metrics(y: np.ndarray) -> list[tuple[str, Metric]]:
    return [("accuracy", METRICS["accuracy"])] if y.dtype.kind in "iu" and y.ndim == 1 else []


def _unpack(name: str, batch: Any) -> tuple[Any, Tensor, tuple]:
    """(input, target, extras): extras are the items after the target (per-sample weights, or
    what a loss with ``accepts_batch_extras`` takes, e.g. the sensitive feature)."""
    try:
        x, y, *extras = batch
    except (TypeError, ValueError):
        what = f"a {type(batch).__name__} of {len(batch)}" if hasattr(batch, "__len__") else \
            type(batch).__name__
        raise ValueError(f"{name}: each batch must be an (input, target) pair (or (input, "
                         f"target, weight)), got {what}") from None
    return x, y, tuple(extras)


def _batch_loss(name: str, loss_fn: Callable[..., Tensor], out: Any, y: Any,
                extras: tuple) -> Tensor:
    """``loss_fn(out, y)``; with a third batch item, the mean of per-sample losses times their
    weights (the loss must use ``reduction='none'``), unless the loss takes the extra items
    itself (``accepts_batch_extras``, as ``fairness.FairnessPenalty``)."""
    if not extras:
        return loss_fn(out, y)
    if getattr(loss_fn, "accepts_batch_extras", False):
        return loss_fn(out, y, *extras)
    if len(extras) != 1:
        raise ValueError(f"{name}: a batch of {2 + len(extras)} items; (input, target, weight) "
                         f"gives per-sample weights, and more items need a loss that accepts "
                         f"them (accepts_batch_extras, e.g. fairness.FairnessPenalty)")
    w = extras[0]
    w = w._array if isinstance(w, Tensor) else np.asarray(w)
    per = loss_fn(out, y)
    if per.ndim == 0:
        raise ValueError(f"{name}: batches carry per-sample weights (input, target, weight), so "
                         f"loss_fn must return one loss per sample (reduction='none'); it "
                         f"returned a scalar")
    if w.ndim != 1 or per.shape[0] != w.shape[0]:
        raise ValueError(f"{name}: per-sample weights of shape {w.shape} do not match the "
                         f"{per.shape[0]} per-sample losses")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError(f"{name}: per-sample weights must be finite and non-negative")
    if per.ndim > 1:
        per = per.reshape(per.shape[0], -1).mean(1)
    return (per * Tensor._wrap(w.astype(np.dtype(per.dtype), copy=False))).mean()


def _compute(metrics: list[tuple[str, Metric]], ys: list[np.ndarray], outs: list[np.ndarray],
             prefix: str) -> dict[str, float]:
    if not metrics or not ys:
        return {}
    y = ys[0] if len(ys) == 1 else np.concatenate(ys)
    out = outs[0] if len(outs) == 1 else np.concatenate(outs)
    return {prefix + name: float(fn(y, out)) for name, fn in metrics}


def _progress(loader: Any, desc: str, enabled: bool) -> Any:
    """A tqdm bar over ``len(loader)`` steps when tqdm is installed and wanted, else None.

    NOTE: updated by hand rather than wrapping the loader: a wrapped iterator closes the bar
    when it is exhausted, before the epoch's metrics can be shown on it.
    """
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=len(loader), desc=desc, unit="batch", leave=True, dynamic_ncols=True)


def _postfix(bar: Any, loss: float, seen: float, start: float) -> None:
    rate = seen / max(time.perf_counter() - start, 1e-9)
    bar.set_postfix(loss=f"{loss / max(seen, 1):.4f}", samples_s=f"{rate:,.0f}", refresh=False)


def train_epoch(
    model: Module,
    loss_fn: Callable[[Any, Tensor], Tensor],
    optimizer: Any,
    loader: Any,
    metrics: Sequence[str | Metric] | None = None,
    scheduler: Any = None,
    clip_grad_norm: float | None = None,
    callbacks: Sequence[Callback] = (),
    batch_transform: Callable[[Any, Tensor], tuple[Any, Tensor]] | None = None,
    progress: bool = True,
    desc: str = "train",
) -> dict[str, float]:
    """Train ``model`` for one pass over ``loader`` of ``(input, target)`` batches.

    Args:
        model: the network (put in train mode).
        loss_fn: ``loss_fn(outputs, targets)`` returning a scalar Tensor (mean over the batch).
        optimizer: an ``nncore.optim`` optimizer.
        loader: iterable of ``(input, target)`` with ``len``; ``(input, target, weight)``
            batches weight each sample's loss (``loss_fn`` with ``reduction='none'``; the batch
            loss is the mean of ``weight * loss``), and a loss with ``accepts_batch_extras``
            (``fairness.FairnessPenalty``) receives every item after the target.
        metrics: names from ``METRICS`` or callables ``fn(y_true, outputs) -> float`` over the
            epoch's NumPy arrays; None: accuracy when targets are integer labels.
        scheduler: stepped after every batch (a per-step schedule), or None.
        clip_grad_norm: clip the global gradient norm to this before each step.
        callbacks: their ``on_batch_end(batch, {"loss", "size"})`` runs after each step.
        batch_transform: ``(x, y) -> (x, y)`` applied to each batch before the forward pass
            (augmentation, adversarial examples).
        progress: a tqdm bar with loss and samples/s.
        desc: the bar's label.

    Returns:
        ``{"loss", <metrics>..., "samples_per_s", "time"}`` for the epoch, the loss weighted by
        batch size. When ``loader`` reads one shard per rank (a ``DistributedSampler`` under a
        process group) the loss and metrics are those of every rank's samples together, and
        samples/s counts all ranks.
    """
    model.train()
    resolved = _resolve_metrics("train_epoch", metrics)
    params = [p for p in model.parameters() if p.requires_grad] if clip_grad_norm else None
    batch_cbs = [cb for cb in callbacks if wants_batch_end(cb)]
    bar = _progress(loader, desc, progress)
    ys: list[np.ndarray] = []
    outs: list[np.ndarray] = []
    keep = resolved is None or bool(resolved)
    total = seen = 0.0
    last = len(loader) - 1
    start = time.perf_counter()
    for step, batch in enumerate(loader):
        out, y, value = _train_step(model, loss_fn, optimizer, scheduler, params, clip_grad_norm,
                                    batch, batch_transform)
        n = len(y)
        total += value * n
        seen += n
        if keep:
            outs.append(out._array)
            ys.append(y._array)
        for cb in batch_cbs:
            cb.on_batch_end(step, {"loss": value, "size": n})
        if bar is not None:
            bar.update()
            if step % 20 == 0 or step == last:
                _postfix(bar, total, seen, start)
    return _epoch_logs(loader, bar, resolved, total, seen, ys, outs, start)


def _train_step(model: Module, loss_fn: Callable, optimizer: Any, scheduler: Any,
                params: list | None, clip_grad_norm: float | None, batch: Any,
                batch_transform: Callable | None) -> tuple[Tensor, Tensor, float]:
    """One optimisation step on ``batch``: (outputs, targets, loss value)."""
    x, y, extras = _unpack("train_epoch", batch)
    if batch_transform is not None:
        x, y = batch_transform(x, y)
    out = model(x)
    loss = _batch_loss("train_epoch", loss_fn, out, y, extras)
    optimizer.zero_grad()
    loss.backward()
    if params is not None:
        clip_grad_norm_(params, clip_grad_norm)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return out, y, float(loss._array)


def _epoch_logs(loader: Any, bar: Any, resolved: list | None, total: float, seen: float,
                ys: list[np.ndarray], outs: list[np.ndarray], start: float) -> dict[str, float]:
    """The epoch's loss and metrics (over every rank's samples when sharded), its speed and
    time; closes the progress bar."""
    elapsed = time.perf_counter() - start
    if _sharded(loader):
        total, seen, ys, outs = _combine(total, seen, ys, outs)
    if resolved is None:
        resolved = _default_metrics(ys[0]) if ys else []
    logs = {"loss": total / max(seen, 1), **_compute(resolved, ys, outs, "")}
    if bar is not None:
        bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}
                        | {"samples_s": f"{seen / max(elapsed, 1e-9):,.0f}"}, refresh=True)
        bar.close()
    logs["samples_per_s"] = seen / elapsed if elapsed > 0 else 0.0
    logs["time"] = elapsed
    return logs


@no_grad()
def evaluate(
    model: Module,
    loss_fn: Callable[[Any, Tensor], Tensor] | None,
    loader: Any,
    metrics: Sequence[str | Metric] | None = None,
    progress: bool = False,
    prefix: str = "",
) -> dict[str, float]:
    """Mean loss and metrics of ``model`` over ``loader``, in eval mode without gradients.

    Args:
        model: the network (its train/eval mode is restored afterwards).
        loss_fn: as in ``train_epoch``, or None to skip the loss.
        loader: iterable of ``(input, target)`` batches with ``len``.
        metrics: as in ``train_epoch`` (None: accuracy for integer labels).
        progress: show a tqdm bar.
        prefix: prepended to every key (``"val_"`` in ``fit``).

    Returns:
        ``{prefix + "loss": ..., prefix + metric: ...}``; over every rank's shard when the
        loader has a ``DistributedSampler`` (then every rank must call it).
    """
    resolved = _resolve_metrics("evaluate", metrics)
    was_training = model.training
    model.eval()
    bar = _progress(loader, "eval", progress)
    ys: list[np.ndarray] = []
    outs: list[np.ndarray] = []
    total = seen = 0.0
    try:
        for batch in loader:
            x, y, extras = _unpack("evaluate", batch)
            if bar is not None:
                bar.update()
            out = model(x)
            n = len(y)
            if loss_fn is not None:
                total += float(_batch_loss("evaluate", loss_fn, out, y, extras)._array) * n
            seen += n
            outs.append(out._array)
            ys.append(y._array)
    finally:
        model.train(was_training)
        if bar is not None:
            bar.close()
    if _sharded(loader):
        total, seen, ys, outs = _combine(total, seen, ys, outs)
    if seen == 0:
        raise ValueError("evaluate: the loader yielded no samples")
    if resolved is None:
        resolved = _default_metrics(ys[0])
    logs = {prefix + "loss": total / seen} if loss_fn is not None else {}
    logs.update(_compute(resolved, ys, outs, prefix))
    return logs


# ---- fit ----
def _check_fit_args(model: Any, optimizer: Any, train_loader: Any, epochs: Any,
                    clip_grad_norm: Any, scheduler: Any, scheduler_interval: str,
                    callbacks: Any, val_loader: Any, plateau_monitor: str) -> None:
    if not isinstance(model, Module):
        raise TypeError(f"fit: model must be an nncore.nn.Module, got {type(model).__name__}")
    if not (hasattr(optimizer, "step") and hasattr(optimizer, "zero_grad")):
        raise TypeError(f"fit: optimizer must have step() and zero_grad(), got "
                        f"{type(optimizer).__name__}")
    if not hasattr(train_loader, "__iter__") or not hasattr(train_loader, "__len__"):
        raise TypeError(f"fit: train_loader must be iterable with a length, got "
                        f"{type(train_loader).__name__}")
    if len(train_loader) == 0:
        raise ValueError("fit: train_loader yields no batches (empty dataset, or drop_last with "
                         "fewer samples than batch_size)")
    if not isinstance(epochs, (int, np.integer)) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"fit: epochs must be a positive integer, got {epochs!r}")
    if clip_grad_norm is not None and not clip_grad_norm > 0:
        raise ValueError(f"fit: clip_grad_norm must be positive, got {clip_grad_norm!r}")
    if scheduler_interval not in ("epoch", "batch"):
        raise ValueError(f"fit: scheduler_interval must be 'epoch' or 'batch', got "
                         f"{scheduler_interval!r}")
    if isinstance(scheduler, ReduceLROnPlateau):
        if scheduler_interval == "batch":
            raise ValueError("fit: ReduceLROnPlateau steps on a per-epoch metric; use "
                             "scheduler_interval='epoch'")
        if plateau_monitor.startswith("val_") and val_loader is None:
            raise ValueError(f"fit: ReduceLROnPlateau monitors {plateau_monitor!r}, which needs "
                             f"a val_loader (or plateau_monitor='loss')")
    elif scheduler is not None and not hasattr(scheduler, "step"):
        raise TypeError(f"fit: scheduler must have step(), got {type(scheduler).__name__}")
    if not isinstance(callbacks, (list, tuple)) or not all(
            isinstance(c, Callback) for c in callbacks):
        raise TypeError(f"fit: callbacks must be a list of nncore.train.Callback instances, got "
                        f"{callbacks!r:.120}")


def _mitigation_name(mitigation: Any) -> str | None:
    """The method named by a ``fairness.MitigationAudit`` or an audit record; None for None."""
    if mitigation is None:
        return None
    name = mitigation.get("method") if isinstance(mitigation, dict) else \
        getattr(mitigation, "method", None)
    auditable = isinstance(mitigation, dict) or callable(getattr(mitigation, "evaluate", None))
    if not isinstance(name, str) or not auditable:
        raise TypeError(f"fit: mitigation must be a fairness.MitigationAudit or its record "
                        f"dict, got {type(mitigation).__name__}")
    return name


def _audit(mitigation: Any, model: Module, run_dir: Any) -> dict[str, Any] | None:
    """Evaluate the trained model for a ``MitigationAudit`` and write ``mitigation.json``."""
    if mitigation is None:
        return None
    from nncore.train.runs import write_mitigation_record

    record = mitigation if isinstance(mitigation, dict) else mitigation.evaluate(model)
    if run_dir is not None:
        write_mitigation_record(run_dir, record)
    return record


def _rank0_logs(logs: dict[str, float]) -> dict[str, float]:
    """Rank 0's logs on every rank: early stopping and plateau decisions must agree, or one
    rank would stop while the others wait for it."""
    from nncore import distributed as dist

    box = [logs]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def fit(
    model: Module,
    loss_fn: Callable[[Any, Tensor], Tensor],
    optimizer: Any,
    train_loader: Any,
    val_loader: Any = None,
    epochs: int = 1,
    metrics: Sequence[str | Metric] | None = None,
    callbacks: Sequence[Callback] = (),
    scheduler: Any = None,
    scheduler_interval: str = "epoch",
    plateau_monitor: str = "val_loss",
    clip_grad_norm: float | None = None,
    batch_transform: Callable[[Any, Tensor], tuple[Any, Tensor]] | None = None,
    run_dir: str | os.PathLike | None = None,
    hparams: dict[str, Any] | None = None,
    profiler: Any = None,
    resume_from: str | os.PathLike | None = None,
    progress: bool = True,
    mitigation: Any = None,
) -> History:
    """Train ``model`` for ``epochs`` passes over ``train_loader``, validating after each.

    Each epoch: ``on_epoch_begin``; the training pass (``train_epoch``); evaluation on
    ``val_loader`` (keys prefixed ``val_``); the per-epoch scheduler step (``ReduceLROnPlateau``
    is fed ``plateau_monitor``); ``on_epoch_end`` of every callback in ``order``. A callback
    setting ``stop_training`` ends the run after that epoch.

    Args:
        model, loss_fn, optimizer: as in ``train_epoch``.
        train_loader: iterable of ``(input, target)`` batches with ``len`` (a ``DataLoader``),
            or ``(input, target, weight)`` for per-sample loss weights (see ``train_epoch``).
        val_loader: batches for validation after every epoch, or None.
        epochs: total epochs (a resumed run continues up to this count).
        metrics: as in ``train_epoch``; computed on training and validation data.
        callbacks: ``Callback`` instances (``EarlyStopping``, ``ModelCheckpoint``, ...).
        scheduler: an ``nncore.optim.lr_scheduler`` schedule, or None.
        scheduler_interval: ``"epoch"`` (default) or ``"batch"`` (step after every batch).
        plateau_monitor: the logged value a ``ReduceLROnPlateau`` scheduler watches.
        clip_grad_norm: clip the global gradient norm before each step.
        batch_transform: ``(x, y) -> (x, y)`` on every training batch before the forward pass.
        run_dir: write an experiment record there (``nncore.train.runs``).
        hparams: extra hyperparameters for the record (recipe name, batch size, ...).
        profiler: an object with ``summary() -> str``; its table is written to the record.
        resume_from: a checkpoint from ``save_checkpoint``/``ModelCheckpoint``: model,
            optimizer, scheduler, RNG and loader states, callbacks and history are restored and
            training continues after its epoch, bit-identical to an uninterrupted run.
        progress: tqdm bars and a summary line per epoch; False for silence.
        mitigation: a ``fairness.MitigationAudit`` (or its ``record`` dict): the bias
            mitigation this run applies. At the end the trained model is audited on the
            audit's held-out data; with ``run_dir`` the record (method, metrics before and
            after, accuracy cost) is written to ``mitigation.json`` and named in
            ``hparams.json``. The record is also ``history.mitigation``.

    Data parallel: pass a ``DistributedDataParallel`` model and loaders with a
    ``DistributedSampler`` under ``mpiexec``. ``fit`` calls the sampler's ``set_epoch`` every
    epoch, combines every rank's results, hands every rank rank 0's logs (so callbacks decide
    alike everywhere), and only rank 0 prints, writes the run record and checkpoints (of the
    wrapped module, loadable without DDP).

    Returns:
        The ``History`` of every epoch (including those before ``resume_from``).
    """
    from nncore.train import checkpoint as _ckpt
    from nncore.train import runs as _runs

    _check_fit_args(model, optimizer, train_loader, epochs, clip_grad_norm, scheduler,
                    scheduler_interval, callbacks, val_loader, plateau_monitor)
    _check_record_args(profiler, hparams)
    callbacks = list(callbacks)
    _resolve_metrics("fit", metrics)
    mitigation_name = _mitigation_name(mitigation)
    world = _world()
    if world is not None and world.rank != 0:
        progress, run_dir = False, None
    saved = _unwrap(model)
    history = History()
    cbs = sorted([history, *callbacks], key=lambda c: c.order)
    state = {"model": saved, "optimizer": optimizer, "scheduler": scheduler, "epoch": 0,
             "loaders": {"train": train_loader, "val": val_loader}, "history": history,
             "callbacks": cbs}
    for cb in cbs:
        cb.set_context(state)
        cb.stop_training = False
    start_epoch = 0
    if resume_from is not None:
        start_epoch = _ckpt.load_checkpoint(resume_from, saved, optimizer, scheduler,
                                            loaders=state["loaders"], callbacks=cbs)["epoch"]
    recorder = None
    if run_dir is not None:
        extra = {"scheduler_interval": scheduler_interval, "clip_grad_norm": clip_grad_norm,
                 "resumed_from": None if resume_from is None else os.fspath(resume_from),
                 **({"mitigation": mitigation_name} if mitigation_name else {})}
        recorder = _runs.RunRecorder(run_dir, saved, optimizer, scheduler, train_loader,
                                     loss_fn=loss_fn, epochs=epochs, hparams=hparams, extra=extra)
    batch_sched = scheduler if scheduler_interval == "batch" else None
    epoch_kw = {"metrics": metrics, "scheduler": batch_sched, "clip_grad_norm": clip_grad_norm,
                "callbacks": cbs, "batch_transform": batch_transform, "progress": progress}
    try:
        for cb in cbs:
            cb.on_train_begin({"epoch": start_epoch})
        logs: dict[str, float] = {}
        for epoch in range(start_epoch, epochs):
            logs = _fit_epoch(model, loss_fn, optimizer, state, epoch, epochs, epoch_kw, world,
                              None if batch_sched is not None else scheduler, plateau_monitor)
            if recorder is not None:
                recorder.epoch_end(history)
            if progress:
                _print_epoch(epoch, epochs, logs)
            if any(cb.stop_training for cb in cbs):
                break
        for cb in cbs:
            cb.on_train_end(logs if start_epoch < epochs else {})
    except BaseException as e:
        if recorder is not None:
            recorder.finish(history, status="failed", profiler=profiler,
                            error="".join(traceback.format_exception_only(type(e), e)).strip())
        raise
    history.mitigation = _audit(mitigation, model, run_dir)
    if recorder is not None:
        stopped = state["epoch"] < epochs
        recorder.finish(history, status="stopped early" if stopped else "completed",
                        profiler=profiler)
    return history


def _check_record_args(profiler: Any, hparams: Any) -> None:
    if profiler is not None and not callable(getattr(profiler, "summary", None)):
        raise TypeError(f"fit: profiler must have a summary() method, got "
                        f"{type(profiler).__name__}")
    if hparams is not None and not isinstance(hparams, dict):
        raise TypeError(f"fit: hparams must be a dict, got {type(hparams).__name__}")


def _fit_epoch(model: Module, loss_fn: Callable, optimizer: Any, state: dict[str, Any],
               epoch: int, epochs: int, epoch_kw: dict[str, Any], world: Any,
               epoch_scheduler: Any, plateau_monitor: str) -> dict[str, float]:
    """One epoch of ``fit``: callbacks' epoch begin, the training pass, validation, the
    per-epoch scheduler step (``epoch_scheduler``, None when it steps per batch) and the
    callbacks' epoch end. Returns the epoch's logs (rank 0's under data parallel)."""
    loaders, cbs = state["loaders"], state["callbacks"]
    state["epoch"] = epoch
    for cb in cbs:
        cb.on_epoch_begin(epoch, {})
    for loader in loaders.values():
        if callable(getattr(getattr(loader, "sampler", None), "set_epoch", None)):
            loader.sampler.set_epoch(epoch)
    logs = train_epoch(model, loss_fn, optimizer, loaders["train"],
                       desc=f"epoch {epoch + 1}/{epochs}", **epoch_kw)
    if loaders["val"] is not None:
        logs.update(evaluate(model, loss_fn, loaders["val"], metrics=epoch_kw["metrics"],
                             prefix="val_"))
    if world is not None:
        logs = _rank0_logs(logs)
    if isinstance(epoch_scheduler, ReduceLROnPlateau):
        if plateau_monitor not in logs:
            raise ValueError(f"fit: ReduceLROnPlateau monitors {plateau_monitor!r}, "
                             f"which is not among the logs {sorted(logs)}")
        epoch_scheduler.step(logs[plateau_monitor])
    elif epoch_scheduler is not None:
        epoch_scheduler.step()
    state["epoch"] = epoch + 1
    for cb in cbs:
        cb.on_epoch_end(epoch, logs)
    return logs


def _print_epoch(epoch: int, epochs: int, logs: dict[str, float]) -> None:
    print(f"epoch {epoch + 1}/{epochs}: " + "  ".join(
        f"{k} {v:,.0f}" if k == "samples_per_s" else f"{k} {v:.4g}"
        for k, v in logs.items() if k != "time"))

