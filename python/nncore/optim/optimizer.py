"""Optimizer: PyTorch's base class (param groups, per-parameter state, state_dict, hooks).

State lives in NumPy arrays owned here; each subclass updates all parameters of a group with one
fused native call (``nncore._C.<opt>_step``) and keeps a short NumPy ``_step_reference`` with the
same signature, which the tests hold the native step to.
"""

from __future__ import annotations

import copy
import functools
import itertools
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any, Callable

import numpy as np

from nncore import dtypes
from nncore.autograd import enable_grad
from nncore.tensor import Tensor

__all__ = ["Optimizer", "register_optimizer_step_post_hook", "register_optimizer_step_pre_hook",
           "required"]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class _RequiredParameter:
    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


class _RemovableHandle:
    """Returned by every ``register_*_hook``; ``remove()`` unregisters the hook."""

    _next_id = itertools.count()

    def __init__(self, hooks: OrderedDict) -> None:
        self.id = next(self._next_id)
        self._hooks = hooks

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self) -> _RemovableHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


_global_step_pre_hooks: OrderedDict[int, Callable] = OrderedDict()
_global_step_post_hooks: OrderedDict[int, Callable] = OrderedDict()


def _register(hooks: OrderedDict, hook: Callable, prepend: bool = False) -> _RemovableHandle:
    handle = _RemovableHandle(hooks)
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


def register_optimizer_step_pre_hook(hook: Callable) -> _RemovableHandle:
    """Run ``hook(optimizer, args, kwargs)`` before every optimizer's ``step`` (PyTorch's global
    hook); it may return new ``(args, kwargs)``. Returns a handle with ``remove()``."""
    return _register(_global_step_pre_hooks, hook)


def register_optimizer_step_post_hook(hook: Callable) -> _RemovableHandle:
    """Run ``hook(optimizer, args, kwargs)`` after every optimizer's ``step``."""
    return _register(_global_step_post_hooks, hook)


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

    # NOTE: ids change when parameters are copied or unpickled, so pickle the pairs only.
    def __getstate__(self) -> list[tuple[Tensor, dict[str, Any]]]:
        return list(self._items.values())

    def __setstate__(self, items: list[tuple[Tensor, dict[str, Any]]]) -> None:
        self._items = {id(p): (p, s) for p, s in items}


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


def _check_betas(opt: str, betas: Any) -> None:
    if len(betas) != 2:
        raise ValueError(f"{opt}: betas must be a pair, got {betas!r}")
    for i, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"{opt}: invalid beta parameter at index {i}: {beta} "
                             f"(expected in [0, 1))")


def _scalar_dtype() -> np.dtype:
    """PyTorch's dtype of scalar optimizer state (NAdam's mu_product, ASGD's eta and mu):
    float64 when the default dtype is float64, else float32. Their rounding shows in results."""
    return np.dtype(np.float64) if dtypes.default_numpy() == np.float64 else np.dtype(np.float32)


def _as_array(value: Any) -> np.ndarray | None:
    """The array inside an nncore Tensor, NumPy array or torch tensor; None for other values."""
    if isinstance(value, Tensor):
        return value._array
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "__array__"):  # a torch.Tensor
        return np.asarray(value.detach().cpu())
    return None


def _pack(value: Any) -> Any:
    """State values as PyTorch hands them out: arrays as Tensors (sharing memory), containers
    packed recursively."""
    if isinstance(value, np.ndarray):
        return Tensor._wrap(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_pack(v) for v in value)
    if isinstance(value, dict):
        return {k: _pack(v) for k, v in value.items()}
    return value


def _with_step_hooks(step: Callable) -> Callable:
    """Wraps an optimizer's ``step``: marks the optimizer as stepped (the learning-rate
    schedulers check it) and runs the global and per-optimizer pre and post hooks once, also
    when a subclass's step calls its parent's."""

    @functools.wraps(step)
    def wrapper(self: Optimizer, *args: Any, **kwargs: Any) -> Any:
        if self.__dict__.get("_in_step", False):
            return step(self, *args, **kwargs)
        self._opt_called = True
        self._in_step = True
        try:
            own_pre = self.__dict__.get("_optimizer_step_pre_hooks", {})
            for hook in [*_global_step_pre_hooks.values(), *own_pre.values()]:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(f"{type(self).__name__}.step: a step pre-hook must "
                                           f"return None or a tuple (new_args, new_kwargs), "
                                           f"got {result!r:.80}")
                    args, kwargs = result
            out = step(self, *args, **kwargs)
            own_post = self.__dict__.get("_optimizer_step_post_hooks", {})
            for hook in [*own_post.values(), *_global_step_post_hooks.values()]:
                hook(self, args, kwargs)
            return out
        finally:
            self._in_step = False

    wrapper._nncore_hooked = True  # type: ignore[attr-defined]
    return wrapper


class Optimizer:
    """Base class of every optimizer (PyTorch's API).

    Args:
        params: an iterable of Parameters, of ``(name, Parameter)`` pairs (``named_parameters()``)
            or of dicts each holding ``"params"`` and per-group hyperparameters overriding
            ``defaults``.
        defaults: default hyperparameters of every group.
    """

    # State keys holding one number per parameter (0-d arrays) rather than a parameter-shaped
    # array; "step" is always one.
    _scalar_state: tuple[str, ...] = ()
    # Whether state arrays must have their parameter's shape (LBFGS keeps flat vectors).
    _param_shaped_state = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "_nncore_hooked", False):
            cls.step = _with_step_hooks(step)

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params should be an iterable of Tensors or "
                            f"dicts, got a Tensor")
        self.defaults = defaults
        self._init_hooks()
        self.state = ParamState()
        self.param_groups: list[dict[str, Any]] = []
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def _init_hooks(self) -> None:
        for name in ("step_pre", "step_post", "state_dict_pre", "state_dict_post",
                     "load_state_dict_pre", "load_state_dict_post"):
            self.__dict__.setdefault(f"_optimizer_{name}_hooks", OrderedDict())

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state,
                "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_hooks()

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params")
        return "\n".join(lines) + "\n)"

    # ---- hooks ----
    def register_step_pre_hook(self, hook: Callable) -> _RemovableHandle:
        """Run ``hook(optimizer, args, kwargs)`` before each ``step``; it may return new
        ``(args, kwargs)``. Returns a handle with ``remove()``."""
        return _register(self._optimizer_step_pre_hooks, hook)

    def register_step_post_hook(self, hook: Callable) -> _RemovableHandle:
        """Run ``hook(optimizer, args, kwargs)`` after each ``step``."""
        return _register(self._optimizer_step_post_hooks, hook)

    def register_state_dict_pre_hook(self, hook: Callable,
                                     prepend: bool = False) -> _RemovableHandle:
        """Run ``hook(optimizer)`` before ``state_dict`` builds its result."""
        return _register(self._optimizer_state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(self, hook: Callable,
                                      prepend: bool = False) -> _RemovableHandle:
        """Run ``hook(optimizer, state_dict)``; a returned dict replaces the state dict."""
        return _register(self._optimizer_state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(self, hook: Callable,
                                          prepend: bool = False) -> _RemovableHandle:
        """Run ``hook(optimizer, state_dict)`` before loading; a returned dict is loaded
        instead."""
        return _register(self._optimizer_load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(self, hook: Callable,
                                           prepend: bool = False) -> _RemovableHandle:
        """Run ``hook(optimizer)`` after ``load_state_dict``."""
        return _register(self._optimizer_load_state_dict_post_hooks, hook, prepend)

    # ---- groups ----
    def _validate_group(self, group: dict[str, Any]) -> None:
        """Raise ValueError for invalid hyperparameters of ``group`` (subclasses)."""

    def _check_flags(self, group: dict[str, Any]) -> None:
        """PyTorch's implementation switches: ``foreach`` and ``fused`` both select nncore's
        fused native step; ``capturable`` and ``differentiable`` have no CPU meaning here."""
        name = type(self).__name__
        if group.get("fused") and group.get("foreach"):
            raise RuntimeError(f"{name}: `fused` and `foreach` cannot be `True` together.")
        if group.get("differentiable"):
            raise NotImplementedError(f"{name}: differentiable=True (autograd through the "
                                      f"optimizer step) is not supported by nncore")
        if group.get("capturable"):
            raise NotImplementedError(f"{name}: capturable=True (CUDA graph capture) is not "
                                      f"supported: nncore runs on the CPU")

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (missing ones from defaults).
        As in PyTorch, ``param_group`` itself becomes the group (completed in place).

        Args:
            param_group: dict with ``"params"`` (a Parameter, an ordered iterable of them, or of
                ``(name, Parameter)`` pairs) and optional hyperparameters.

        Raises:
            TypeError: for a non-dict group, a set of params, or a non-float / non-Tensor param.
            ValueError: for a missing required hyperparameter, an invalid value, a non-leaf
                param, a param already in another group, or groups mixing named and unnamed
                params.
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
        names = [p[0] for p in params if isinstance(p, tuple)]
        if names:
            if len(names) != len(params):
                raise ValueError(f"{name}: all optimizer params should be with/without names. "
                                 f"Some param names are missing")
            params = [p[1] for p in params]
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors, but one of the params is "
                                f"{type(p).__name__}")
            if p._array.dtype not in _FLOAT_DTYPES:
                raise TypeError(f"{name}: can only optimize float32/float64 Tensors, got "
                                f"{p._array.dtype} with shape {p.shape}")
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor")
        group = param_group
        group["params"] = params
        if names:
            group["param_names"] = names
        for key, default in self.defaults.items():
            if default is required and key not in group:
                raise ValueError(f"{name}: parameter group didn't specify a value of required "
                                 f"optimization parameter {key}")
            group.setdefault(key, default)
        self._check_flags(group)
        self._validate_group(group)
        ids = {id(p) for p in params}
        if len(ids) != len(params):
            warnings.warn(f"{name}: a parameter group contains duplicate parameters",
                          stacklevel=3)
        for other in self.param_groups:
            if ("param_names" in other) != ("param_names" in group):
                raise ValueError(f"{name}: all optimizer param groups should be with/without "
                                 f"names")
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
            for p in group["params"]:
                if p.grad is not None:
                    p._bump()  # an in-place update, as PyTorch counts it
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
        """PyTorch's format: ``{"state": {index: {name: Tensor}}, "param_groups": [{...,
        "params": [index]}]}``, parameters numbered in group order. The Tensors share memory with
        the live state (copy the dict to keep a snapshot)."""
        for hook in list(self._optimizer_state_dict_pre_hooks.values()):
            hook(self)
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: _pack(s) for p, s in self.state.items() if s and id(p) in index}
        result = {"state": state, "param_groups": groups}
        for hook in list(self._optimizer_state_dict_post_hooks.values()):
            out = hook(self, result)
            if out is not None:
                result = out
        return result

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load hyperparameters and state saved by ``state_dict`` (nncore's or PyTorch's, with
        nncore Tensors, NumPy arrays or torch tensors as values); arrays are copied into the
        parameters' dtype.

        Raises:
            ValueError: when the groups or their sizes differ from this optimizer's, or a state
                array does not have its parameter's shape.
        """
        name = type(self).__name__
        state_dict = dict(state_dict)
        for hook in list(self._optimizer_load_state_dict_pre_hooks.values()):
            out = hook(self, state_dict)
            if out is not None:
                state_dict = out
        saved = copy.deepcopy(state_dict["param_groups"])
        if len(saved) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: loaded state dict has {len(saved)} "
                             f"parameter groups, the optimizer has {len(self.param_groups)}")
        for i, (g, s) in enumerate(zip(self.param_groups, saved)):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(f"{name}.load_state_dict: parameter group {i} has "
                                 f"{len(s['params'])} params in the state dict, "
                                 f"{len(g['params'])} in the optimizer")
        for i, (g, s) in enumerate(zip(self.param_groups, saved)):
            self._check_loaded_group(i, g, s)
        by_index = {}
        for g, s in zip(self.param_groups, saved):
            by_index.update(zip(s["params"], g["params"]))
        state = ParamState()
        for key, values in state_dict["state"].items():
            p = by_index.get(key)
            if p is not None:
                state[p] = {k: self._load_value(k, v, p) for k, v in values.items()}
        groups = []
        for g, s in zip(self.param_groups, saved):
            s["params"] = g["params"]
            if "param_names" in g and "param_names" not in s:
                s["param_names"] = g["param_names"]
            for k, default in self.defaults.items():  # keys newer than the checkpoint
                s.setdefault(k, default)
            groups.append(s)
        self.state = state
        self.param_groups = groups
        for hook in list(self._optimizer_load_state_dict_post_hooks.values()):
            hook(self)

    def _check_loaded_group(self, i: int, live: dict[str, Any], saved: Any) -> None:
        """Raise TypeError/ValueError for a saved group whose hyperparameters this optimizer
        cannot run with (``lr='fast'``, ``betas=[2.0]``), before anything is loaded; JSON
        lists become the tuples the live group holds."""
        name = type(self).__name__
        if not isinstance(saved, dict) or not isinstance(saved.get("params"), list):
            raise ValueError(f"{name}.load_state_dict: parameter group {i} is not a dict with "
                             f"a 'params' list: {saved!r:.120}")
        for key, value in list(saved.items()):
            if key in ("params", "param_names") or key not in live:
                continue
            current = live[key]
            where = f"{name}.load_state_dict: parameter group {i}: {key!r}"
            if isinstance(current, bool):
                if not isinstance(value, (bool, np.bool_)):
                    raise TypeError(f"{where} must be a bool, got {value!r:.80}")
            elif isinstance(current, (int, float)) and not isinstance(value, Tensor):
                if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                        or value != value:
                    raise TypeError(f"{where} must be a number, got {value!r:.80}")
            elif isinstance(current, tuple):
                if not isinstance(value, (list, tuple)) or len(value) != len(current) or not all(
                        isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
                        and v == v for v in value):
                    raise TypeError(f"{where} must be a tuple of {len(current)} numbers, got "
                                    f"{value!r:.80}")
                saved[key] = tuple(value)
        merged = {**{k: v for k, v in live.items() if k != "params"}, **saved}
        try:
            self._validate_group(merged)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{name}.load_state_dict: parameter group {i}: {e}") from None

    def _load_value(self, key: Any, value: Any, param: Tensor) -> Any:
        """One saved state value as this optimizer keeps it: "step" a float64 0-d array, other
        scalar state a 0-d float array, parameter state a C-contiguous copy in the parameter's
        dtype; containers converted item by item, other values kept."""
        if isinstance(value, (list, tuple)):
            return type(value)(self._load_value(None, v, param) for v in value)
        if isinstance(value, dict):
            return {k: self._load_value(k, v, param) for k, v in value.items()}
        arr = _as_array(value)
        if key == "step":
            return np.array(float(value if arr is None else arr), dtype=np.float64)
        if key in self._scalar_state:
            if arr is None or arr.dtype not in _FLOAT_DTYPES:
                arr = np.asarray(float(value if arr is None else arr), dtype=_scalar_dtype())
            return np.array(arr, copy=True)
        if arr is None:
            return value
        if self._param_shaped_state and key is not None and arr.shape != param.shape:
            raise ValueError(f"{type(self).__name__}.load_state_dict: state {key!r} has shape "
                             f"{arr.shape}, its parameter has shape {tuple(param.shape)}")
        return np.array(arr, dtype=param._array.dtype, order="C", copy=True)


Optimizer.step = _with_step_hooks(Optimizer.step)  # type: ignore[method-assign]
