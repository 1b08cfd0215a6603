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

import copy
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
    """The value ``_encode`` stored; a malformed node raises KeyError/TypeError/ValueError
    (``_decoded`` turns them into one ValueError naming the file)."""
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


def _decoded(path: str, what: str, obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    try:
        return _decode(obj, arrays)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RecursionError) as e:
        raise ValueError(f"load_checkpoint: {path!r} has a corrupt {what} entry "
                         f"({type(e).__name__}: {e})") from None


def _corrupt(path: str, why: str) -> ValueError:
    return ValueError(f"load_checkpoint: {path!r} is a corrupt checkpoint: {why}")


def _check_state(path: str, state: Any) -> None:
    """The checkpoint's JSON has every entry, each of the right kind, and valid values."""
    if not isinstance(state, dict):
        raise _corrupt(path, f"its state is a JSON {type(state).__name__}, not an object")
    missing = sorted(set(_STATE_KEYS) - set(state))
    if missing:
        raise _corrupt(path, f"entries {missing} are missing")
    for key, kinds in _STATE_KEYS.items():
        if not isinstance(state[key], kinds) or isinstance(state[key], bool):
            raise _corrupt(path, f"{key!r} is {state[key]!r:.80}")
    if state["epoch"] < 0:
        raise _corrupt(path, f"epoch {state['epoch']} is negative")
    arch = state["architecture"]
    if not isinstance(arch.get("class"), str) or not isinstance(arch.get("shapes"), dict):
        raise _corrupt(path, f"'architecture' is {arch!r:.80}")
    for key in ("optimizer", "scheduler"):
        entry = state[key]
        if entry is not None and (set(entry) != {"class", "state"}
                                  or not isinstance(entry["class"], str)):
            raise _corrupt(path, f"{key!r} must hold 'class' and 'state', got {entry!r:.80}")
    if state["optimizer"] is not None and not isinstance(state["optimizer"]["state"], dict):
        raise _corrupt(path, "the optimizer state is not an object")
    rng = state["rng"]
    if not isinstance(rng.get("seed"), int) or not isinstance(rng.get("bit_generator"), dict):
        raise _corrupt(path, f"'rng' is {rng!r:.80}")
    try:
        # NOTE: a throwaway generator takes the saved state first: a state NumPy refuses is
        # found before the model changes.
        own = _random.default_generator._rng.bit_generator
        type(own)().state = rng["bit_generator"]
    except (TypeError, ValueError, KeyError, OverflowError) as e:
        raise _corrupt(path, f"the RNG state is unusable ({type(e).__name__}: {e})") from None
    for key in ("loaders", "callbacks"):
        if not all(isinstance(k, str) for k in state[key]):
            raise _corrupt(path, f"{key!r} has non-string keys")


_STATE_KEYS: dict[str, Any] = {
    "epoch": int, "architecture": dict, "optimizer": (dict, type(None)),
    "scheduler": (dict, type(None)), "rng": dict, "loaders": dict, "callbacks": dict,
    "extra": (dict, list, str, int, float, type(None)),
}


def _same_kind(path: str, what: str, saved: Any, live: Any) -> None:
    """Raise ValueError when a saved state value cannot stand for the live one: a number for a
    number, a string for a string, a dict for a dict (checked key by key), and so on; None
    matches anything (a best score not reached yet)."""
    if saved is None or live is None:
        return
    kinds = ((bool, np.bool_), (int, float, np.number, np.ndarray, Tensor), (str,),
             (list, tuple), (dict,))
    for kind in kinds:
        if isinstance(live, kind):
            if not isinstance(saved, kind) or (kind[0] is not bool and isinstance(saved, bool)
                                               and not isinstance(live, bool)):
                raise ValueError(f"load_checkpoint: {path!r} holds {saved!r:.60} for {what}, "
                                 f"which is a {type(live).__name__} ({live!r:.60})")
            break
    if isinstance(live, dict):
        for key in live.keys() & saved.keys():
            _same_kind(path, f"{what}[{key!r}]", saved[key], live[key])


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
    except (json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"load_checkpoint: {path!r} has corrupt checkpoint metadata ({e})"
                         ) from None
    _check_state(path, state)
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
    if not isinstance(sd, dict) or not isinstance(sd.get("param_groups"), list) \
            or not isinstance(sd.get("state"), dict) \
            or not all(isinstance(g, dict) and isinstance(g.get("params"), list)
                       for g in sd["param_groups"]) \
            or not all(isinstance(v, dict) for v in sd["state"].values()):
        raise _corrupt(path, f"the optimizer state is malformed: {sd!r:.120}")
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
    # NOTE: the hyperparameters are checked as Optimizer.load_state_dict checks them (lr a
    # non-negative number, betas in [0, 1)...), on a copy, before anything is loaded.
    for i, (live, group) in enumerate(zip(optimizer.param_groups, groups)):
        try:
            optimizer._check_loaded_group(i, live, dict(group))
        except (TypeError, ValueError) as e:
            raise ValueError(f"load_checkpoint: {path!r}: {e}") from None
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
    opt_state = _check_optimizer(path, optimizer,
                                 _decoded(path, "optimizer", state["optimizer"], tensors)) \
        if optimizer is not None else None
    sched = state["scheduler"]
    sched_state = None
    if scheduler is not None:
        if sched is None or sched["class"] != type(scheduler).__name__:
            raise ValueError(f"load_checkpoint: {path!r} holds a "
                             f"{None if sched is None else sched['class']} scheduler state, "
                             f"the scheduler is a {type(scheduler).__name__}")
        sched_state = _decoded(path, "scheduler", sched["state"], tensors)
        if not isinstance(sched_state, dict):
            raise _corrupt(path, f"the scheduler state is {sched_state!r:.80}")
        _same_kind(path, "the scheduler state", sched_state, scheduler.state_dict())
    live_loaders = {name: loader for name, loader in (loaders or {}).items()
                    if loader is not None and hasattr(loader, "load_state_dict")}
    for name, loader in live_loaders.items():
        if name not in state["loaders"]:
            raise ValueError(f"load_checkpoint: {path!r} has no state for loader {name!r} "
                             f"(saved: {sorted(state['loaders'])})")
        _same_kind(path, f"loader {name!r}", state["loaders"][name], loader.state_dict())
    saved_cbs = state["callbacks"]
    cb_states = {}
    for key, cb in _callback_keys(callbacks):
        if key in saved_cbs:
            cb_states[key] = _decoded(path, f"callback {key}", saved_cbs[key], tensors)
            _same_kind(path, f"callback {key}", cb_states[key], cb.state_dict())
    extra = _decoded(path, "extra", state["extra"], tensors)
    # NOTE: everything above only read; from here objects change. A load_state_dict that still
    # raises (a value only it can judge) rolls every object back to its state before the call.
    undo = _Undo()
    try:
        undo.model(model)
        model.load_state_dict(weights)
        if opt_state is not None:
            undo.attributes(optimizer)
            optimizer.load_state_dict(opt_state)
        if scheduler is not None:
            undo.attributes(scheduler)
            scheduler.load_state_dict(sched_state)
        for name, loader in live_loaders.items():
            undo.stateful(loader)
            loader.load_state_dict(state["loaders"][name])
        for key, cb in _callback_keys(callbacks):
            if key in cb_states:
                undo.stateful(cb)
                cb.load_state_dict(cb_states[key])
        if restore_rng:
            undo.rng()
            _random.set_rng_state_dict(state["rng"])
    except BaseException:
        undo.run()
        raise
    return {"epoch": int(state["epoch"]), "extra": extra}


class _Undo:
    """Snapshots taken just before each object changes, restored in reverse order."""

    def __init__(self) -> None:
        self.steps: list[Any] = []

    def model(self, model: Module) -> None:
        saved = {k: np.array(v._array, copy=True) for k, v in model.state_dict().items()}
        self.steps.append(lambda: model.load_state_dict(saved))

    def attributes(self, obj: Any) -> None:
        # NOTE: load_state_dict of optimizers and schedulers rebinds attributes (new state,
        # new groups) rather than editing them, so the previous objects are the snapshot.
        saved = dict(vars(obj))
        self.steps.append(lambda: (vars(obj).clear(), vars(obj).update(saved)))

    def stateful(self, obj: Any) -> None:
        saved = copy.deepcopy(obj.state_dict())
        self.steps.append(lambda: obj.load_state_dict(saved))

    def rng(self) -> None:
        saved = _random.get_rng_state_dict()
        self.steps.append(lambda: _random.set_rng_state_dict(saved))

    def run(self) -> None:
        for step in reversed(self.steps):
            step()
