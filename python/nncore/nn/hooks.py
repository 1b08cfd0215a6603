"""Module hooks: removable handles, the global hooks of ``torch.nn.modules.module`` and the
gradient capture behind ``register_full_backward_hook``.

A module's full backward hook needs the gradients of all its tensor inputs at once (and of all
its outputs at once). nncore's Functions have one output each, so the tensors that require grad
are packed into one flat array by ``_PackFn`` and handed to ``forward`` as views of it: the
autograd walk reaches the pack only after every use of every view has added its gradient, so
the pack's backward sees the whole ``grad_input`` (or ``grad_output``) tuple and may replace it.
"""

from __future__ import annotations

import warnings
import weakref
from collections import OrderedDict
from typing import Any, Callable

import numpy as np

from nncore import autograd
from nncore.autograd import Function
from nncore.tensor import Tensor

__all__ = [
    "RemovableHandle", "register_module_backward_hook", "register_module_buffer_registration_hook",
    "register_module_forward_hook", "register_module_forward_pre_hook",
    "register_module_full_backward_hook", "register_module_full_backward_pre_hook",
    "register_module_module_registration_hook", "register_module_parameter_registration_hook",
]


class RemovableHandle:
    """A handle whose ``remove()`` unregisters a hook (PyTorch's
    ``torch.utils.hooks.RemovableHandle``); also a context manager that removes it on exit.

    Args:
        hooks_dict: the OrderedDict the hook is stored in, under ``handle.id``.
        extra_dict: another dict (or a list of them) whose ``handle.id`` entry goes too.
    """

    next_id: int = 0

    def __init__(self, hooks_dict: Any, *, extra_dict: Any = None) -> None:
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = RemovableHandle.next_id
        RemovableHandle.next_id += 1
        extras = [extra_dict] if isinstance(extra_dict, dict) else list(extra_dict or ())
        self.extra_dict_ref = tuple(weakref.ref(d) for d in extras)

    def remove(self) -> None:
        """Unregister the hook (a no-op when it is already gone)."""
        for ref in (self.hooks_dict_ref, *self.extra_dict_ref):
            d = ref()
            if d is not None and self.id in d:
                del d[self.id]

    def __getstate__(self) -> tuple:
        return (self.hooks_dict_ref(), self.id, tuple(r() for r in self.extra_dict_ref))

    def __setstate__(self, state: tuple) -> None:
        hooks = state[0] if state[0] is not None else OrderedDict()
        self.hooks_dict_ref = weakref.ref(hooks)
        self.id = state[1]
        RemovableHandle.next_id = max(RemovableHandle.next_id, self.id + 1)
        self.extra_dict_ref = tuple(weakref.ref(d) for d in (state[2] if len(state) > 2 else ())
                                    if d is not None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


# ---- hooks common to all modules (torch.nn.modules.module.register_module_*) ----------------

_global_forward_pre_hooks: OrderedDict[int, Callable] = OrderedDict()
_global_forward_hooks: OrderedDict[int, Callable] = OrderedDict()
_global_forward_hooks_with_kwargs: OrderedDict[int, bool] = OrderedDict()
_global_forward_hooks_always_called: OrderedDict[int, bool] = OrderedDict()
_global_backward_pre_hooks: OrderedDict[int, Callable] = OrderedDict()
_global_backward_hooks: OrderedDict[int, Callable] = OrderedDict()
_global_buffer_registration_hooks: OrderedDict[int, Callable] = OrderedDict()
_global_module_registration_hooks: OrderedDict[int, Callable] = OrderedDict()
_global_parameter_registration_hooks: OrderedDict[int, Callable] = OrderedDict()


def _add(store: OrderedDict, hook: Callable, extra: Any = None) -> RemovableHandle:
    handle = RemovableHandle(store, extra_dict=extra)
    store[handle.id] = hook
    return handle


def register_module_forward_pre_hook(hook: Callable) -> RemovableHandle:
    """``hook(module, args)`` before every module's forward (before the module's own pre-hooks);
    a returned value replaces ``args``.

    Returns:
        A RemovableHandle.
    """
    return _add(_global_forward_pre_hooks, hook)


def register_module_forward_hook(hook: Callable, *, with_kwargs: bool = False,
                                 always_call: bool = False) -> RemovableHandle:
    """``hook(module, args, output)`` (``hook(module, args, kwargs, output)`` with
    ``with_kwargs``) after every module's forward, before the module's own hooks; a returned
    value replaces the output. ``always_call`` runs it even when forward raises.

    Returns:
        A RemovableHandle.
    """
    handle = _add(_global_forward_hooks, hook,
                  [_global_forward_hooks_with_kwargs, _global_forward_hooks_always_called])
    if with_kwargs:
        _global_forward_hooks_with_kwargs[handle.id] = True
    if always_call:
        _global_forward_hooks_always_called[handle.id] = True
    return handle


def register_module_full_backward_pre_hook(hook: Callable) -> RemovableHandle:
    """``hook(module, grad_output)`` for every module, before its own backward pre-hooks.

    Returns:
        A RemovableHandle.
    """
    return _add(_global_backward_pre_hooks, hook)


def register_module_full_backward_hook(hook: Callable) -> RemovableHandle:
    """``hook(module, grad_input, grad_output)`` for every module, before its own backward hooks.

    Returns:
        A RemovableHandle.
    """
    return _add(_global_backward_hooks, hook)


def register_module_backward_hook(hook: Callable) -> RemovableHandle:
    """PyTorch's deprecated global backward hook; nncore gives it the full hook's semantics.

    Returns:
        A RemovableHandle.
    """
    return register_module_full_backward_hook(hook)


def register_module_buffer_registration_hook(hook: Callable) -> RemovableHandle:
    """``hook(module, name, buffer)`` whenever a buffer is registered; a returned Tensor is
    registered instead.

    Returns:
        A RemovableHandle.
    """
    return _add(_global_buffer_registration_hooks, hook)


def register_module_module_registration_hook(hook: Callable) -> RemovableHandle:
    """``hook(module, name, submodule)`` whenever a submodule is registered; a returned Module is
    registered instead.

    Returns:
        A RemovableHandle.
    """
    return _add(_global_module_registration_hooks, hook)


def register_module_parameter_registration_hook(hook: Callable) -> RemovableHandle:
    """``hook(module, name, param)`` whenever a parameter is registered; a returned Parameter is
    registered instead.

    Returns:
        A RemovableHandle.
    """
    return _add(_global_parameter_registration_hooks, hook)


def run_registration_hooks(store: OrderedDict, module: Any, name: str, value: Any) -> Any:
    """``value`` after every global registration hook of ``store`` had its say."""
    for hook in store.values():
        out = hook(module, name, value)
        if out is not None:
            value = out
    return value


# ---- a module's hook registration (a mixin of nn.Module) -------------------------------------


class HooksMixin:
    """The forward and backward hook registration of ``nn.Module``."""

    _forward_pre_hooks: OrderedDict
    _forward_pre_hooks_with_kwargs: OrderedDict
    _forward_hooks: OrderedDict
    _forward_hooks_with_kwargs: OrderedDict
    _forward_hooks_always_called: OrderedDict
    _backward_pre_hooks: OrderedDict
    _backward_hooks: OrderedDict
    _is_full_backward_hook: bool | None

    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """``hook(module, args)`` (``hook(module, args, kwargs)`` with ``with_kwargs``) before
        every forward; a returned value replaces the arguments.

        Returns:
            A RemovableHandle.
        """
        handle = RemovableHandle(self._forward_pre_hooks,
                                 extra_dict=self._forward_pre_hooks_with_kwargs)
        self._forward_pre_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs[handle.id] = True
        if prepend:
            self._forward_pre_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_forward_hook(self, hook: Callable, *, prepend: bool = False,
                              with_kwargs: bool = False, always_call: bool = False
                              ) -> RemovableHandle:
        """``hook(module, args, output)`` (``hook(module, args, kwargs, output)`` with
        ``with_kwargs``) after every forward; a returned value replaces the output.
        ``always_call`` runs it even when forward raises.

        Returns:
            A RemovableHandle.
        """
        handle = RemovableHandle(self._forward_hooks, extra_dict=[
            self._forward_hooks_with_kwargs, self._forward_hooks_always_called])
        self._forward_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_hooks_with_kwargs[handle.id] = True
        if always_call:
            self._forward_hooks_always_called[handle.id] = True
        if prepend:
            self._forward_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_full_backward_pre_hook(self, hook: Callable, prepend: bool = False
                                        ) -> RemovableHandle:
        """``hook(module, grad_output)`` when the gradients of the outputs are known; a returned
        tuple replaces them.

        Returns:
            A RemovableHandle.
        """
        handle = RemovableHandle(self._backward_pre_hooks)
        self._backward_pre_hooks[handle.id] = hook
        if prepend:
            self._backward_pre_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_full_backward_hook(self, hook: Callable, prepend: bool = False
                                    ) -> RemovableHandle:
        """``hook(module, grad_input, grad_output)`` when the gradients of the positional
        tensor inputs are known (of the outputs, when no input requires grad); a returned tuple
        replaces ``grad_input``.

        Returns:
            A RemovableHandle.
        """
        if self._is_full_backward_hook is False:
            raise RuntimeError("Cannot use both regular backward hooks and full backward hooks "
                               "on a single Module. Please use only one of them.")
        self._is_full_backward_hook = True
        handle = RemovableHandle(self._backward_hooks)
        self._backward_hooks[handle.id] = hook
        if prepend:
            self._backward_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_backward_hook(self, hook: Callable) -> RemovableHandle:
        """PyTorch's deprecated backward hook; nncore gives it the full hook's semantics.

        Returns:
            A RemovableHandle.
        """
        if self._is_full_backward_hook is True:
            raise RuntimeError("Cannot use both regular backward hooks and full backward hooks "
                               "on a single Module. Please use only one of them.")
        self._is_full_backward_hook = False
        handle = RemovableHandle(self._backward_hooks)
        self._backward_hooks[handle.id] = hook
        return handle


# ---- full backward hooks ---------------------------------------------------------------------


class _PackFn(Function):
    """Concatenates the flattened inputs; backward splits the gradient and lets ``on_grad``
    see (and replace) the per-tensor gradients."""

    def forward(self, *arrays: np.ndarray, on_grad: Callable[[list], list]) -> np.ndarray:
        self.shapes = [a.shape for a in arrays]
        self.on_grad = on_grad
        return np.concatenate([a.reshape(-1) for a in arrays])

    def backward(self, grad: np.ndarray) -> tuple:
        parts, start = [], 0
        for shape in self.shapes:
            n = int(np.prod(shape, dtype=np.int64))
            parts.append(grad[start:start + n].reshape(shape))
            start += n
        return tuple(self.on_grad(parts))


def _as_grad(op: str, value: Any, like: np.ndarray) -> np.ndarray:
    arr = value._array if isinstance(value, Tensor) else np.asarray(value)
    if arr.shape != like.shape:
        raise RuntimeError(f"{op}: hook returned a gradient of shape {arr.shape}, expected "
                           f"{like.shape}")
    return arr.astype(like.dtype, copy=False)


class BackwardHook:
    """One forward call's full backward (pre-)hooks: packs the inputs and outputs that require
    grad, calls ``hook(module, grad_input, grad_output)`` once both are known."""

    def __init__(self, module: Any, user_hooks: list[Callable],
                 user_pre_hooks: list[Callable]) -> None:
        self.module, self.user_hooks, self.user_pre_hooks = module, user_hooks, user_pre_hooks
        self.grad_outputs: tuple | None = None
        self.n_inputs = self.n_outputs = -1
        self.input_index: list[int] | None = None
        self.output_index: list[int] | None = None

    @staticmethod
    def _pack(values: tuple, on_grad: Callable) -> tuple[tuple, list[int] | None]:
        index = [i for i, v in enumerate(values) if isinstance(v, Tensor) and v.requires_grad]
        if not index or not autograd.is_grad_enabled():
            return values, None
        tensors = [values[i] for i in index]
        if len({t._array.dtype for t in tensors}) > 1:
            raise NotImplementedError(
                "register_full_backward_hook: nncore needs the tensors that require grad among a "
                "hooked module's inputs (and among its outputs) to share one dtype, got "
                + ", ".join(str(t.dtype) for t in tensors))
        packed = _PackFn.apply(*tensors, on_grad=on_grad)
        out, start = list(values), 0
        for i, t in zip(index, tensors):
            n = t._array.size
            out[i] = packed[start:start + n].reshape(t._array.shape)
            start += n
        return tuple(out), index

    def setup_input_hook(self, args: tuple) -> tuple:
        """The positional arguments ``forward`` receives (views of the packed inputs)."""
        res, self.input_index = self._pack(args, self._on_grad_inputs)
        self.n_inputs = len(args)
        return res

    def setup_output_hook(self, result: Any) -> Any:
        """The module's result as its caller receives it (views of the packed outputs)."""
        is_tuple = isinstance(result, tuple)
        values = result if is_tuple else (result,)
        res, self.output_index = self._pack(values, self._on_grad_outputs)
        self.n_outputs = len(values)
        return res if is_tuple else res[0]

    def _with_none(self, index: list[int], parts: list, size: int) -> tuple:
        out: list[Any] = [None] * size
        for i, p in zip(index, parts):
            out[i] = Tensor._wrap(p)
        return tuple(out)

    def _on_grad_outputs(self, parts: list) -> list:
        index = self.output_index or []
        grads = self._with_none(index, parts, self.n_outputs)
        for hook in self.user_pre_hooks:
            new = hook(self.module, grads)
            if new is None:
                continue
            new = new if isinstance(new, tuple) else (new,)
            if len(new) != len(grads):
                raise RuntimeError(f"Backward pre hook returned an invalid number of "
                                   f"grad_output, got {len(new)}, but expected {len(grads)}")
            grads = new
        self.grad_outputs = grads
        if self.input_index is None and self.user_hooks:
            # NOTE: PyTorch's rule: with no input requiring grad the hook fires now, with
            # grad_input all None, and may not return gradients.
            warnings.warn("Full backward hook is firing when gradients are computed with respect "
                          "to module outputs since no inputs require gradients.", UserWarning,
                          stacklevel=2)
            none = (None,) * self.n_inputs
            for hook in self.user_hooks:
                res = hook(self.module, none, grads)
                if res is not None and not (isinstance(res, tuple)
                                            and all(r is None for r in res)):
                    raise RuntimeError("Backward hook for Modules where no input requires "
                                       "gradient should always return None or None for all "
                                       "gradients.")
            self.grad_outputs = None
        return [_as_grad("register_full_backward_pre_hook", grads[i], p)
                if grads[i] is not None else np.zeros_like(p) for i, p in zip(index, parts)]

    def _on_grad_inputs(self, parts: list) -> list:
        if self.grad_outputs is None:
            return parts
        index = self.input_index or []
        res = self._with_none(index, parts, self.n_inputs)
        for hook in self.user_hooks:
            out = hook(self.module, res, self.grad_outputs)
            if out is None:
                continue
            out = out if isinstance(out, tuple) else (out,)
            if len(out) != len(res):
                raise RuntimeError(f"Backward hook returned an invalid number of grad_input, "
                                   f"got {len(out)}, but expected {len(res)}")
            res = out
        self.grad_outputs = None
        return [_as_grad("register_full_backward_hook", res[i], p)
                if res[i] is not None else np.zeros_like(p) for i, p in zip(index, parts)]
