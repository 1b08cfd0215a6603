"""Training checkpoints: everything needed to resume a run bit-identically, in one file.

A checkpoint is a safetensors file (so the same atomic writer and corruption checks as model
files, and no pickle: loading one runs no code). Its tensors are the model's state under
``model/<key>`` and every array of the optimizer, scheduler and callback states under
``state/<n>``; its ``__metadata__`` holds ``"nncore.checkpoint"`` JSON with the rest: epoch,
optimizer and scheduler states (arrays replaced by references), nncore's RNG state, each
DataLoader's generator state, callback states and the architecture (class, keys, shapes) for
clear errors when a checkpoint does not fit the model.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from nncore import random as _random
from nncore.nn.module import Module
from nncore.serialization import load_metadata, load_safetensors, save_safetensors
from nncore.serialization._safetensors import _DTYPES
from nncore.tensor import Tensor

__all__ = ["load_checkpoint", "save_checkpoint"]

FORMAT = "nncore.checkpoint"
VERSION = 1


# ---- a JSON encoding of state dicts, arrays kept aside as tensors ----
def _encode(obj: Any, arrays: dict[str, np.ndarray], where: str) -> Any:
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, Tensor):
        # NOTE: PyTorch-style state dicts hold Tensors (an optimizer's "step" included).
        node = _encode(obj._array, arrays, where)
        return {"__tensor__": node["__array__"], "requires_grad": obj.requires_grad}
    if isinstance(obj, np.ndarray):
        if obj.dtype not in _DTYPES.values() and obj.dtype.newbyteorder("<") not in \
                _DTYPES.values():
            raise TypeError(f"save_checkpoint: {where} is an array of dtype {obj.dtype}, which "
                            f"a checkpoint cannot hold")
        name = f"state/{len(arrays)}"
        arrays[name] = obj
        return {"__array__": name}
    if isinstance(obj, np.generic):
        return {"__scalar__": obj.dtype.str, "value": obj.item()}
    if isinstance(obj, Counter):
        return {"__counter__": [[_encode(k, arrays, where), v] for k, v in obj.items()]}
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode(v, arrays, f"{where}[{k!r}]") for k, v in obj.items()}
        return {"__items__": [[_encode(k, arrays, where), _encode(v, arrays, f"{where}[{k!r}]")]
                              for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]
    raise TypeError(f"save_checkpoint: {where} is a {type(obj).__name__}, which a checkpoint "
                    f"cannot hold (JSON values, tuples, Counters, NumPy arrays and Tensors only)")


def _decode(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__array__" in obj:
        return arrays[obj["__array__"]]
    if "__tensor__" in obj:
        t = Tensor._wrap(arrays[obj["__tensor__"]])
        return t.requires_grad_(True) if obj["requires_grad"] else t
    if "__scalar__" in obj:
        return np.dtype(obj["__scalar__"]).type(obj["value"])
    if "__counter__" in obj:
        return Counter({_decode(k, arrays): v for k, v in obj["__counter__"]})
    if "__items__" in obj:
        return {_decode(k, arrays): _decode(v, arrays) for k, v in obj["__items__"]}
    if "__tuple__" in obj:
        return tuple(_decode(v, arrays) for v in obj["__tuple__"])
    return {k: _decode(v, arrays) for k, v in obj.items()}


def _callback_keys(callbacks: Sequence[Any]) -> list[tuple[str, Any]]:
    """(``ClassName#k`` for the k-th callback of that class, callback) pairs."""
    seen: Counter = Counter()
    out = []
    for cb in callbacks:
        name = type(cb).__name__
        out.append((f"{name}#{seen[name]}", cb))
        seen[name] += 1
    return out


def save_checkpoint(
    path: str | os.PathLike,
    model: Module,
    optimizer: Any = None,
    scheduler: Any = None,
    epoch: int = 0,
    loaders: dict[str, Any] | None = None,
    callbacks: Sequence[Any] = (),
    extra: dict[str, Any] | None = None,
) -> None:
    """Write a checkpoint atomically (a crash mid-write leaves the previous file intact).

    Args:
        path: destination file (``*.ckpt`` by convention; it is a safetensors file).
        model: the network; its ``state_dict()`` is saved.
        optimizer: its ``state_dict()`` (moments, step counts, hyperparameters), or None.
        scheduler: its ``state_dict()``, or None.
        epoch: epochs completed; training resumes at this 0-based epoch.
        loaders: ``{"train": DataLoader, ...}``: each loader's generator state is saved, so the
            resumed epochs shuffle as the uninterrupted run would (None values are skipped).
        callbacks: callbacks whose ``state_dict()`` is saved (``History``, ``EarlyStopping``...).
        extra: any other JSON-serialisable values (and arrays) to keep.

    Raises:
        TypeError: for a state value that cannot be stored.
    """
    if not isinstance(model, Module):
        raise TypeError(f"save_checkpoint: model must be an nncore.nn.Module, got "
                        f"{type(model).__name__}")
    weights = model.state_dict()
    arrays: dict[str, np.ndarray] = {}
    state = {
        "epoch": int(epoch),
        "architecture": {"class": type(model).__name__,
                         "shapes": {k: list(v.shape) for k, v in weights.items()}},
        "optimizer": None if optimizer is None else {
            "class": type(optimizer).__name__,
            "state": _encode(optimizer.state_dict(), arrays, "optimizer.state_dict()")},
        "scheduler": None if scheduler is None else {
            "class": type(scheduler).__name__,
            "state": _encode(scheduler.state_dict(), arrays, "scheduler.state_dict()")},
        "rng": _random.get_rng_state_dict(),
        "loaders": {name: loader.state_dict() for name, loader in (loaders or {}).items()
                    if loader is not None and hasattr(loader, "state_dict")},
        "callbacks": {key: _encode(cb.state_dict(), arrays, f"{key}.state_dict()")
                      for key, cb in _callback_keys(callbacks) if cb.state_dict()},
        "extra": _encode(extra or {}, arrays, "extra"),
    }
    tensors = {f"model/{k}": v for k, v in weights.items()}
    tensors.update(arrays)
    save_safetensors(tensors, path, metadata={"format": FORMAT, "version": str(VERSION),
                                              FORMAT: json.dumps(state)})


def _read(path: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    meta = load_metadata(path)
    if meta.get("format") != FORMAT or FORMAT not in meta:
        raise ValueError(f"load_checkpoint: {path!r} is a safetensors file but not an nncore "
                         f"checkpoint (no {FORMAT!r} metadata); for model weights use "
                         f"nncore.load")
    if meta.get("version") != str(VERSION):
        raise ValueError(f"load_checkpoint: {path!r} has checkpoint version "
                         f"{meta.get('version')!r}, this nncore reads version {VERSION}")
    try:
        state = json.loads(meta[FORMAT])
    except json.JSONDecodeError as e:
        raise ValueError(f"load_checkpoint: {path!r} has corrupt checkpoint metadata ({e})"
                         ) from None
    return state, load_safetensors(path)


def _check_model(path: str, model: Module, state: dict[str, Any],
                 tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    weights = {k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")}
    own = model.state_dict()
    missing = [k for k in own if k not in weights]
    unexpected = [k for k in weights if k not in own]
    shapes = [f"{k}: checkpoint {tuple(weights[k].shape)} vs model {tuple(v.shape)}"
              for k, v in own.items() if k in weights and weights[k].shape != v.shape]
    if missing or unexpected or shapes:
        parts = [f"missing keys {missing}" if missing else "",
                 f"unexpected keys {unexpected}" if unexpected else "",
                 f"shape mismatches [{'; '.join(shapes)}]" if shapes else ""]
        saved = state["architecture"]["class"]
        raise ValueError(f"load_checkpoint: {path!r} was saved from a different architecture "
                         f"({saved}) than this {type(model).__name__}: "
                         + ", ".join(p for p in parts if p))
    return weights


def _check_optimizer(path: str, optimizer: Any, saved: dict[str, Any]) -> dict[str, Any]:
    if saved is None:
        raise ValueError(f"load_checkpoint: {path!r} holds no optimizer state")
    if saved["class"] != type(optimizer).__name__:
        raise ValueError(f"load_checkpoint: {path!r} holds a {saved['class']} state, the "
                         f"optimizer is a {type(optimizer).__name__}")
    sd = saved["state"]
    groups = sd["param_groups"]
    if [len(g["params"]) for g in groups] != [len(g["params"]) for g in
                                               optimizer.param_groups]:
        raise ValueError(f"load_checkpoint: {path!r} has optimizer groups of sizes "
                         f"{[len(g['params']) for g in groups]}, the optimizer "
                         f"{[len(g['params']) for g in optimizer.param_groups]}")
    params = {}
    for g, s in zip(optimizer.param_groups, groups):
        params.update(zip(s["params"], g["params"]))
    # NOTE: 0-d values are per-parameter scalars (step, NAdam's mu_product); LBFGS keeps flat
    # vectors of all parameters instead of parameter-shaped state.
    shaped = getattr(optimizer, "_param_shaped_state", True)
    for index, values in sd["state"].items():
        p = params.get(index)
        for key, value in values.items():
            if shaped and p is not None and isinstance(value, (np.ndarray, Tensor)) \
                    and value.ndim and tuple(value.shape) != tuple(p.shape):
                raise ValueError(f"load_checkpoint: optimizer state {key!r} of parameter "
                                 f"{index} has shape {value.shape}, the parameter {p.shape}")
    return sd


def load_checkpoint(
    path: str | os.PathLike,
    model: Module,
    optimizer: Any = None,
    scheduler: Any = None,
    loaders: dict[str, Any] | None = None,
    callbacks: Sequence[Any] = (),
    restore_rng: bool = True,
) -> dict[str, Any]:
    """Restore a checkpoint into live objects; everything is checked before anything changes.

    Args:
        path: a file from ``save_checkpoint`` or ``ModelCheckpoint``.
        model: receives the weights (same architecture as saved).
        optimizer, scheduler: receive their states when given (same classes as saved).
        loaders: ``{"train": DataLoader, ...}`` whose generator states are restored by name.
        callbacks: callbacks whose saved states (matched by class and position) are restored.
        restore_rng: restore nncore's default generator (dropout, initialisation).

    Returns:
        ``{"epoch": epochs completed, "extra": the saved extra values}``.

    Raises:
        ValueError: for a file that is not a checkpoint or is corrupt, a checkpoint of another
            architecture (naming the missing, unexpected and mis-shaped keys), or an optimizer
            or scheduler of another class or size.
    """
    path = os.fspath(path)
    state, tensors = _read(path)
    weights = _check_model(path, model, state, tensors)
    opt_state = _check_optimizer(path, optimizer, _decode(state["optimizer"], tensors)) \
        if optimizer is not None else None
    sched = state["scheduler"]
    if scheduler is not None:
        if sched is None or sched["class"] != type(scheduler).__name__:
            raise ValueError(f"load_checkpoint: {path!r} holds a "
                             f"{None if sched is None else sched['class']} scheduler state, "
                             f"the scheduler is a {type(scheduler).__name__}")
    for name, loader in (loaders or {}).items():
        if loader is not None and hasattr(loader, "load_state_dict") \
                and name not in state["loaders"]:
            raise ValueError(f"load_checkpoint: {path!r} has no state for loader {name!r} "
                             f"(saved: {sorted(state['loaders'])})")
    model.load_state_dict(weights)
    if opt_state is not None:
        optimizer.load_state_dict(opt_state)
    if scheduler is not None:
        scheduler.load_state_dict(_decode(sched["state"], tensors))
    for name, loader in (loaders or {}).items():
        if loader is not None and hasattr(loader, "load_state_dict"):
            loader.load_state_dict(state["loaders"][name])
    saved_cbs = state["callbacks"]
    for key, cb in _callback_keys(callbacks):
        if key in saved_cbs:
            cb.load_state_dict(_decode(saved_cbs[key], tensors))
    if restore_rng:
        _random.set_rng_state_dict(state["rng"])
    return {"epoch": int(state["epoch"]), "extra": _decode(state["extra"], tensors)}
