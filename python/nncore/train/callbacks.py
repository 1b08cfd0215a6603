"""Callbacks for ``fit``: the protocol, early stopping, checkpoints, LR monitoring, loggers.

A callback subclasses ``Callback`` and overrides any of ``on_train_begin``, ``on_epoch_begin``,
``on_batch_end``, ``on_epoch_end``, ``on_train_end``; ``fit`` sets ``self.model``,
``self.optimizer``, ``self.scheduler`` and ``self.context`` before training. Setting
``self.stop_training = True`` ends the run after the current epoch. Callbacks run in ascending
``order`` (stable): monitors that add keys to the logs run before ``History`` (-100), and
``ModelCheckpoint`` (100) after the others, so a checkpoint holds their updated state. A callback
with state worth resuming returns it from ``state_dict`` (JSON values and NumPy arrays).
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Callable

import numpy as np

_MAX_KEYS = ("acc", "accuracy", "f1", "precision", "recall", "r2", "auc")


def _rank() -> int:
    """This process's rank in the default process group (0 without one)."""
    from nncore.distributed import _core

    grp = _core.current()
    return 0 if grp is None else grp.rank


class Callback:
    """Base class: every hook does nothing. ``logs`` maps names (``loss``, ``val_loss``,
    ``accuracy``, ...) to floats; ``on_batch_end`` gets ``{"loss", "size"}``."""

    order: int = 0
    stop_training: bool = False

    def set_context(self, context: dict[str, Any]) -> None:
        """Called by ``fit`` with its state: model, optimizer, scheduler, loaders, history."""
        self.context = context
        self.model = context["model"]
        self.optimizer = context["optimizer"]
        self.scheduler = context["scheduler"]

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Before the first epoch (of this call; after restoring a checkpoint)."""

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """After the last epoch, or after an early stop."""

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Before the training pass of ``epoch`` (0-based)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        """After training, validation and the scheduler step of ``epoch``; may add to logs."""

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
        """After each optimizer step. Override only if needed: it runs on the hot path."""

    def state_dict(self) -> dict[str, Any]:
        """State saved in checkpoints (default none)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()``."""


def wants_batch_end(cb: Callback) -> bool:
    """Whether ``cb`` overrides ``on_batch_end`` (in its class or as an instance attribute);
    the others are kept off the per-batch path."""
    return getattr(cb.on_batch_end, "__func__", None) is not Callback.on_batch_end


class LambdaCallback(Callback):
    """A callback from plain functions, for quick user code.

    Args:
        on_epoch_end: ``fn(epoch, logs)``.
        on_batch_end: ``fn(batch, logs)``.
        on_train_begin: ``fn(logs)``.
        on_train_end: ``fn(logs)``.
        on_epoch_begin: ``fn(epoch, logs)``.
    """

    def __init__(self, on_epoch_end: Callable | None = None, on_batch_end: Callable | None = None,
                 on_train_begin: Callable | None = None, on_train_end: Callable | None = None,
                 on_epoch_begin: Callable | None = None) -> None:
        for name, fn in [("on_epoch_end", on_epoch_end), ("on_batch_end", on_batch_end),
                         ("on_train_begin", on_train_begin), ("on_train_end", on_train_end),
                         ("on_epoch_begin", on_epoch_begin)]:
            if fn is not None:
                if not callable(fn):
                    raise TypeError(f"LambdaCallback: {name} must be callable, got {fn!r}")
                setattr(self, name, fn)


def _resolve_mode(name: str, monitor: str, mode: str) -> str:
    if mode == "auto":
        base = monitor[4:] if monitor.startswith("val_") else monitor
        return "max" if any(base == k or base.startswith(k + "_") for k in _MAX_KEYS) else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"{name}: mode must be 'min', 'max' or 'auto', got {mode!r}")
    return mode


def _monitored(name: str, monitor: str, logs: dict[str, float]) -> float:
    if monitor not in logs:
        raise ValueError(f"{name}: monitored value {monitor!r} is not in the logs "
                         f"{sorted(logs)} (validation keys need a val_loader)")
    return float(logs[monitor])


def _check_val(name: str, monitor: str, context: dict[str, Any]) -> None:
    if monitor.startswith("val_") and context["loaders"].get("val") is None:
        raise ValueError(f"{name}: monitors {monitor!r}, but fit was given no val_loader")


class EarlyStopping(Callback):
    """Stop when a monitored value has not improved for ``patience`` epochs.

    Args:
        monitor: logged key, e.g. ``"val_loss"`` or ``"val_accuracy"``.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (max for accuracy/f1/precision/recall/r2).
        patience: epochs without improvement tolerated before stopping.
        min_delta: an improvement must exceed this.
        restore_best_weights: load the best epoch's weights into the model at the end.
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", patience: int = 0,
                 min_delta: float = 0.0, restore_best_weights: bool = False) -> None:
        if not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be a non-negative integer, got "
                             f"{patience!r}")
        if not min_delta >= 0:
            raise ValueError(f"EarlyStopping: min_delta must be >= 0, got {min_delta!r}")
        self.monitor = monitor
        self.mode = _resolve_mode("EarlyStopping", monitor, mode)
        self.patience = patience
        self.min_delta = float(min_delta)
        self.restore_best_weights = restore_best_weights
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = -1
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.best_weights: dict[str, np.ndarray] | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        _check_val("EarlyStopping", self.monitor, self.context)

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        value = _monitored("EarlyStopping", self.monitor, logs)
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                # NOTE: copies: state_dict() shares the parameters' memory (PyTorch's rule).
                self.best_weights = {k: v.numpy().copy()
                                     for k, v in self.model.state_dict().items()}
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            self.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "stopped_epoch": self.stopped_epoch, "best_weights": self.best_weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)


class ModelCheckpoint(Callback):
    """Write the best weights and the last full checkpoint after every epoch, atomically.

    ``<dirpath>/last.ckpt`` holds everything ``fit(resume_from=...)`` needs (model, optimizer,
    scheduler, RNG and loader states, callbacks, history); ``<dirpath>/best.safetensors`` the
    model weights of the best epoch by ``monitor`` (``nncore.load`` reads them; the metadata
    holds the epoch and value).

    Args:
        dirpath: folder for the files (created).
        monitor: logged key deciding the best epoch.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (as ``EarlyStopping``).
        save_best: write ``best.safetensors``.
        save_last: write ``last.ckpt``.
    """

    order = 100

    def __init__(self, dirpath: str | os.PathLike, monitor: str = "val_loss", mode: str = "auto",
                 save_best: bool = True, save_last: bool = True) -> None:
        if not (save_best or save_last):
            raise ValueError("ModelCheckpoint: save_best and save_last are both False")
        self.dirpath = os.fspath(dirpath)
        self.monitor = monitor
        self.mode = _resolve_mode("ModelCheckpoint", monitor, mode)
        self.save_best = save_best
        self.save_last = save_last
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = -1

    @property
    def best_path(self) -> str:
        return os.path.join(self.dirpath, "best.safetensors")

    @property
    def last_path(self) -> str:
        return os.path.join(self.dirpath, "last.ckpt")

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.save_best:
            _check_val("ModelCheckpoint", self.monitor, self.context)
        os.makedirs(self.dirpath, exist_ok=True)

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        from nncore.serialization import save_safetensors
        from nncore.train.checkpoint import save_checkpoint

        # NOTE: under data parallelism every rank tracks the best value, only rank 0 writes.
        writer = _rank() == 0
        if self.save_best:
            value = _monitored("ModelCheckpoint", self.monitor, logs)
            better = value < self.best if self.mode == "min" else value > self.best
            if better:
                self.best, self.best_epoch = value, epoch
            if better and writer:
                save_safetensors(self.model.state_dict(), self.best_path,
                                 metadata={"epoch": str(epoch + 1), "monitor": self.monitor,
                                           "value": repr(value), "logs": json.dumps(logs)})
        if self.save_last and writer:
            ctx = self.context
            save_checkpoint(self.last_path, self.model, self.optimizer, self.scheduler,
                            epoch=epoch + 1, loaders=ctx["loaders"], callbacks=ctx["callbacks"])

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]


class LearningRateMonitor(Callback):
    """Log the learning rate used in each epoch as ``lr`` (group 0) and ``lr_group<i>``.

    Args:
        per_batch: also keep every step's rates in ``self.batch_lrs``.
    """

    order = -200

    def __init__(self, per_batch: bool = False) -> None:
        self.per_batch = per_batch
        self.batch_lrs: list[list[float]] = []
        self._epoch_lrs: list[float] = []
        if per_batch:
            # NOTE: only then: a callback keeping the base on_batch_end stays off the hot path.
            self.on_batch_end = self._record_batch  # type: ignore[method-assign]

    def _lrs(self) -> list[float]:
        return [float(g["lr"]) for g in self.optimizer.param_groups]

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_lrs = self._lrs()

    def _record_batch(self, batch: int, logs: dict[str, float]) -> None:
        self.batch_lrs.append(self._lrs())

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        for i, lr in enumerate(self._epoch_lrs):
            logs["lr" if i == 0 else f"lr_group{i}"] = lr


LRLogger = LearningRateMonitor


class TensorBoardLogger(Callback):
    """Write every epoch's logs as TensorBoard scalars (needs ``tensorboard`` via
    ``torch.utils.tensorboard``, or ``tensorboardX``; neither is an nncore dependency).

    Args:
        log_dir: the event-file folder.

    Raises:
        ImportError: when no SummaryWriter can be imported.
    """

    def __init__(self, log_dir: str | os.PathLike) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            try:
                from tensorboardX import SummaryWriter
            except ImportError:
                raise ImportError("TensorBoardLogger needs 'tensorboard' (with torch) or "
                                  "'tensorboardX': pip install tensorboard") from None
        self.writer = SummaryWriter(os.fspath(log_dir))

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        for key, value in logs.items():
            self.writer.add_scalar(key, value, epoch + 1)
        self.writer.flush()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.writer.close()


class MLflowLogger(Callback):
    """Log hyperparameters and every epoch's metrics to MLflow (needs ``mlflow``, not an
    nncore dependency).

    Args:
        params: hyperparameters to log at the start.
        run_name: the MLflow run's name.
        experiment: experiment name (MLflow's default when None).

    Raises:
        ImportError: when ``mlflow`` is not installed.
    """

    def __init__(self, params: dict[str, Any] | None = None, run_name: str | None = None,
                 experiment: str | None = None) -> None:
        try:
            import mlflow
        except ImportError:
            raise ImportError("MLflowLogger needs mlflow: pip install mlflow") from None
        self.mlflow = mlflow
        self.params = dict(params or {})
        self.run_name = run_name
        self.experiment = experiment

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.experiment is not None:
            self.mlflow.set_experiment(self.experiment)
        self.mlflow.start_run(run_name=self.run_name)
        params = {"optimizer": type(self.optimizer).__name__,
                  **{k: v for k, v in self.optimizer.param_groups[0].items()
                     if isinstance(v, (int, float, str, bool))}, **self.params}
        self.mlflow.log_params(params)

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.mlflow.log_metrics({k: float(v) for k, v in logs.items()}, step=epoch + 1)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.mlflow.end_run()
