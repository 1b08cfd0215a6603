"""Optimizer: PyTorch's base class (param groups, per-parameter state, state_dict).

State lives in NumPy arrays owned here; each subclass updates all parameters of a group with one
fused native call (``nncore._C.<opt>_step``) and keeps a short NumPy ``_step_reference`` with the
same signature, which the tests hold the native step to.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any, Callable

import numpy as np

from nncore.autograd import enable_grad
from nncore.tensor import Tensor

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class _RequiredParameter:
    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


class ParamState(MutableMapping):
    """Per-parameter state keyed by parameter identity.

    NOTE: Tensor's ``__eq__`` is elementwise, so parameters must never be compared by value;
    this mapping looks them up by ``id`` and, like ``defaultdict(dict)``, creates an empty
    state on first access.
    """

    def __init__(self) -> None:
        self._items: dict[int, tuple[Tensor, dict[str, Any]]] = {}

    def __getitem__(self, param: Tensor) -> dict[str, Any]:
        entry = self._items.get(id(param))
        if entry is None:
            entry = self._items[id(param)] = (param, {})
        return entry[1]

    def __setitem__(self, param: Tensor, state: dict[str, Any]) -> None:
        self._items[id(param)] = (param, state)

    def __delitem__(self, param: Tensor) -> None:
        del self._items[id(param)]

    def __contains__(self, param: object) -> bool:
        return id(param) in self._items

    def __iter__(self) -> Iterator[Tensor]:
        return (p for p, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"ParamState({len(self)} parameters)"


def _fma(a: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """a * x + y rounded once: the fused multiply-add the native kernels use where PyTorch's CPU
    kernels do (add with alpha, addcmul, lerp). For float32 the product is exact in float64."""
    if y.dtype == np.float32:
        a = np.float64(np.float32(a)) if np.isscalar(a) else np.asarray(a, dtype=np.float64)
        return (a * np.asarray(x, dtype=np.float64) + y).astype(np.float32)
    return a * x + y


def _lerp(start: np.ndarray, end: np.ndarray, weight: float) -> np.ndarray:
    """PyTorch's lerp: start + weight * (end - start), exact at both ends."""
    w = start.dtype.type(weight)
    if abs(w) < 0.5:
        return _fma(w, end - start, start)
    return _fma(start - end, 1 - w, end)


def _check_non_negative(opt: str, name: str, value: float) -> None:
    if not value >= 0.0:
        raise ValueError(f"{opt}: invalid {name} {value!r} (expected >= 0)")


class Optimizer:
    """Base class of every optimizer (PyTorch's API).

    Args:
        params: an iterable of Parameters, or of dicts each holding ``"params"`` and per-group
            hyperparameters overriding ``defaults``.
        defaults: default hyperparameters of every group.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params should be an iterable of Tensors or "
                            f"dicts, got a Tensor")
        self.defaults = defaults
        self.state = ParamState()
        self.param_groups: list[dict[str, Any]] = []
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params")
        return "\n".join(lines) + "\n)"

    # ---- groups ----
    def _validate_group(self, group: dict[str, Any]) -> None:
        """Raise ValueError for invalid hyperparameters of ``group`` (subclasses)."""

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (missing ones from defaults).

        Args:
            param_group: dict with ``"params"`` (a Parameter or an ordered iterable of them) and
                optional hyperparameters.
        """
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: param_group must be a dict, got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: parameters need to be in an ordered collection (the order "
                            f"of a set changes between runs); use a list instead")
        params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors, but one of the params is "
                                f"{type(p).__name__}")
            if p._array.dtype not in _FLOAT_DTYPES:
                raise TypeError(f"{name}: can only optimize float32/float64 Tensors, got "
                                f"{p._array.dtype} with shape {p.shape}")
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor")
        group = dict(param_group)
        group["params"] = params
        for key, default in self.defaults.items():
            if default is required and key not in group:
                raise ValueError(f"{name}: parameter group didn't specify a value of required "
                                 f"optimization parameter {key}")
            group.setdefault(key, default)
        self._validate_group(group)
        ids = {id(p) for p in params}
        if len(ids) != len(params):
            warnings.warn(f"{name}: a parameter group contains duplicate parameters",
                          stacklevel=3)
        for other in self.param_groups:
            if any(id(p) in ids for p in other["params"]):
                raise ValueError(f"{name}: some parameters appear in more than one parameter "
                                 f"group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of every parameter.

        Args:
            set_to_none: set ``.grad`` to None (default) instead of a zero array.
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                # NOTE: a new array, never zeroing in place: gradient arrays may be shared.
                p.grad = None if set_to_none else Tensor._wrap(np.zeros_like(p.grad._array))

    # ---- step ----
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` if given.

        Args:
            closure: re-evaluates the model and returns the loss (run with grad enabled).
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for params, grads, states in self._batches(group):
                self._group_step(group, params, grads, states)
        return loss

    def _group_step(self, group: dict[str, Any], params: list[np.ndarray],
                    grads: list[np.ndarray], states: list[dict[str, Any]]) -> None:
        """Update ``params`` (arrays of one dtype) in place from ``grads`` and ``states``."""
        raise NotImplementedError(f"{type(self).__name__} has no _group_step()")

    def _batches(self, group: dict[str, Any]) -> Iterable[tuple[list, list, list]]:
        """(param arrays, grad arrays, states) of the params of ``group`` that have a grad, one
        triple per dtype (one native call each); grads C-contiguous in their param's dtype."""
        by_dtype: dict[np.dtype, tuple[list, list, list]] = {}
        for p in group["params"]:
            if p.grad is None:
                continue
            data = p._array
            g = p.grad._array
            if g.dtype != data.dtype or not g.flags.c_contiguous:
                g = np.ascontiguousarray(g, dtype=data.dtype)
            if g.shape != data.shape:
                raise ValueError(f"{type(self).__name__}.step: gradient of shape {g.shape} does "
                                 f"not match its parameter of shape {data.shape}")
            lists = by_dtype.get(data.dtype)
            if lists is None:
                lists = by_dtype[data.dtype] = ([], [], [])
            lists[0].append(data)
            lists[1].append(g)
            lists[2].append(self.state[p])
        return by_dtype.values()

    # ---- checkpoints ----
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {name: array}}, "param_groups": [{..., "params": [index]}]}``,
        parameters numbered in group order as PyTorch does. Arrays are the live buffers."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: s for p, s in self.state.items() if s and id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load hyperparameters and state saved by ``state_dict`` (arrays are copied into the
        parameters' dtype).

        Raises:
            ValueError: when the groups or their sizes differ from this optimizer's.
        """
        name = type(self).__name__
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: loaded state dict has {len(saved)} "
                             f"parameter groups, the optimizer has {len(self.param_groups)}")
        for i, (g, s) in enumerate(zip(self.param_groups, saved)):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(f"{name}.load_state_dict: parameter group {i} has "
                                 f"{len(s['params'])} params in the state dict, "
                                 f"{len(g['params'])} in the optimizer")
        by_index = {}
        for g, s in zip(self.param_groups, saved):
            by_index.update(zip(s["params"], g["params"]))
        self.state = ParamState()
        for key, values in state_dict["state"].items():
            if key not in by_index:
                continue
            p = by_index[key]
            self.state[p] = {k: self._load_value(k, v, p) for k, v in values.items()}
        self.param_groups = [{**s, "params": g["params"]}
                             for g, s in zip(self.param_groups, saved)]

    @staticmethod
    def _load_value(key: str, value: Any, param: Tensor) -> Any:
        if value is None:
            return None
        if key == "step":
            return np.array(float(np.asarray(value)), dtype=np.float64)
        arr = np.asarray(value._array if isinstance(value, Tensor) else value)
        if arr.shape != param.shape:
            raise ValueError(f"load_state_dict: state {key!r} has shape {arr.shape}, its "
                             f"parameter has shape {param.shape}")
        return np.array(arr, dtype=param._array.dtype, order="C", copy=True)
