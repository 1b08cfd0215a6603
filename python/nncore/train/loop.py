"""A lean supervised training loop: one pass over a loader, and evaluation."""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from nncore.autograd import no_grad
from nncore.nn.module import Module
from nncore.tensor import Tensor


def _progress(iterable: Any, total: int, desc: str, enabled: bool) -> Any:
    """tqdm when it is installed and wanted, else the plain iterable."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(iterable, total=total, desc=desc, unit="batch", leave=True, dynamic_ncols=True)


def train_epoch(
    model: Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    optimizer: Any,
    loader: Any,
    desc: str = "train",
    progress: bool = True,
    scheduler: Any = None,
) -> dict[str, float]:
    """Train ``model`` for one pass over ``loader`` of (input, integer label) batches.

    ``scheduler``, when given, steps after every batch (a per-step learning-rate schedule).

    Returns:
        ``{"loss", "accuracy", "samples_per_s"}`` averaged over the epoch.
    """
    model.train()
    bar = _progress(loader, len(loader), desc, progress)
    total_loss = correct = seen = 0.0
    start = time.perf_counter()
    for step, (x, y) in enumerate(bar if bar is not None else loader):
        logits = model(x)
        loss = loss_fn(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        n = len(y)
        total_loss += float(loss.data) * n
        correct += int(np.count_nonzero(logits.data.argmax(-1) == y.data))
        seen += n
        if bar is not None and (step % 20 == 0 or step == len(loader) - 1):
            rate = seen / (time.perf_counter() - start)
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}",
                            samples_s=f"{rate:,.0f}", refresh=False)
    if bar is not None:
        bar.close()
    elapsed = time.perf_counter() - start
    return {"loss": total_loss / max(seen, 1), "accuracy": correct / max(seen, 1),
            "samples_per_s": seen / elapsed if elapsed > 0 else 0.0}


@no_grad()
def evaluate(model: Module, loss_fn: Callable[[Tensor, Tensor], Tensor], loader: Any
             ) -> dict[str, float]:
    """Mean loss and accuracy of ``model`` over ``loader`` in eval mode."""
    was_training = model.training
    model.eval()
    total_loss = correct = seen = 0.0
    for x, y in loader:
        logits = model(x)
        n = len(y)
        total_loss += float(loss_fn(logits, y).data) * n
        correct += int(np.count_nonzero(logits.data.argmax(-1) == y.data))
        seen += n
    model.train(was_training)
    return {"loss": total_loss / max(seen, 1), "accuracy": correct / max(seen, 1)}
