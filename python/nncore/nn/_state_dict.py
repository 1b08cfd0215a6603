"""state_dict and load_state_dict with PyTorch's rules (a mixin of ``nn.Module``).

``state_dict`` returns detached Tensors sharing memory with the parameters and buffers.
``load_state_dict`` checks every entry before it changes anything: PyTorch's overridable
per-module ``_load_from_state_dict`` queues its copies, which run only once the whole load is
known to succeed (with post-hooks, which may forgive missing keys, the copies run first and are
undone if the load still fails).
"""

from __future__ import annotations

import warnings
from collections import OrderedDict, namedtuple
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np

from nncore import autograd
from nncore.nn.hooks import RemovableHandle
from nncore.nn.parameter import Parameter
from nncore.tensor import Tensor


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` returns: the missing and the unexpected keys."""

    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


IncompatibleKeys = _IncompatibleKeys


_EXTRA_STATE = "_extra_state"
# NOTE: load_state_dict validates every key before changing anything: _load_from_state_dict
# (PyTorch's overridable per-module step) queues its copies here while a load runs.
_pending_loads: list | None = None


class StateDictMixin:
    """The state_dict half of ``nn.Module``."""

    _version = 1
    _parameters: dict
    _buffers: dict
    _modules: dict
    _non_persistent_buffers_set: set

    def get_extra_state(self) -> Any:
        """Override (with ``set_extra_state``) to save extra state in ``state_dict``."""
        raise RuntimeError("Reached a code path in Module.get_extra_state() that should never "
                           "be called.")

    def set_extra_state(self, state: Any) -> None:
        """Override (with ``get_extra_state``) to restore extra state from ``state_dict``."""
        raise RuntimeError("Reached a code path in Module.set_extra_state() that should never "
                           "be called.")
    def register_state_dict_pre_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, prefix, keep_vars)`` before ``state_dict`` collects this module."""
        handle = RemovableHandle(self._state_dict_pre_hooks)
        self._state_dict_pre_hooks[handle.id] = hook
        return handle

    def register_state_dict_post_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, state_dict, prefix, local_metadata)`` after this module's entries were
        collected; it edits ``state_dict`` in place and returns None."""
        handle = RemovableHandle(self._state_dict_hooks)
        self._state_dict_hooks[handle.id] = (hook, True)
        return handle

    def _register_state_dict_hook(self, hook: Callable) -> RemovableHandle:
        handle = RemovableHandle(self._state_dict_hooks)
        self._state_dict_hooks[handle.id] = (hook, False)
        return handle

    def register_load_state_dict_pre_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, state_dict, prefix, local_metadata, strict, missing_keys,
        unexpected_keys, error_msgs)`` before this module's entries are loaded."""
        handle = RemovableHandle(self._load_state_dict_pre_hooks)
        self._load_state_dict_pre_hooks[handle.id] = hook
        return handle

    def register_load_state_dict_post_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, incompatible_keys)`` after loading; it may edit the key lists in place
        (clearing them lets a strict load pass) and returns None."""
        handle = RemovableHandle(self._load_state_dict_post_hooks)
        self._load_state_dict_post_hooks[handle.id] = hook
        return handle

    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()
        if type(self).get_extra_state is not StateDictMixin.get_extra_state:
            destination[prefix + _EXTRA_STATE] = self.get_extra_state()

    def state_dict(self, *args: Any, destination: Any = None, prefix: str = "",
                   keep_vars: bool = False) -> Any:
        """Parameters and persistent buffers by dotted name, in registration order (own tensors,
        then each child's), as Tensors that share memory with the module but are detached
        from autograd (the Parameters themselves with ``keep_vars``).

        Args:
            destination: a dict to fill (a new OrderedDict by default).
            prefix: prepended to every key.
            keep_vars: return the Parameters and buffers themselves.
        Returns:
            The OrderedDict (with PyTorch's ``_metadata`` versions).
        """
        if args:
            warnings.warn("Positional args are being deprecated, use kwargs instead.",
                          FutureWarning, stacklevel=2)
            destination = args[0] if destination is None else destination
            prefix = args[1] if len(args) > 1 and prefix == "" else prefix
            keep_vars = args[2] if len(args) > 2 and keep_vars is False else keep_vars
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()
        local_metadata = {"version": self._version}
        if hasattr(destination, "_metadata"):
            destination._metadata[prefix[:-1]] = local_metadata
        for hook in self._state_dict_pre_hooks.values():
            hook(self, prefix, keep_vars)
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination=destination, prefix=prefix + name + ".",
                             keep_vars=keep_vars)
        for hook, public in self._state_dict_hooks.values():
            out = hook(self, destination, prefix, local_metadata)
            if public and out is not None:
                raise RuntimeError("state_dict post-hook must return None")
            if not public and out is not None:
                destination = out
        return destination

    def _load_from_state_dict(self, state_dict: dict, prefix: str, local_metadata: dict,
                              strict: bool, missing_keys: list, unexpected_keys: list,
                              error_msgs: list) -> None:
        """Check this module's own entries of ``state_dict`` (PyTorch's overridable step);
        the copies run once ``load_state_dict`` found no error anywhere."""
        for hook in self._load_state_dict_pre_hooks.values():
            hook(self, state_dict, prefix, local_metadata, strict, missing_keys,
                 unexpected_keys, error_msgs)
        local = {k: v for k, v in self._parameters.items() if v is not None}
        local.update((k, v) for k, v in self._buffers.items()
                     if v is not None and k not in self._non_persistent_buffers_set)
        assign = local_metadata.get("assign_to_params_buffers", False)
        for name, target in local.items():
            key = prefix + name
            if key not in state_dict:
                if strict:
                    missing_keys.append(key)
                continue
            value = state_dict[key]
            if isinstance(value, Tensor):
                arr = value._array
            elif isinstance(value, (np.ndarray, np.generic)) or hasattr(value, "__array__"):
                arr = np.asarray(value)
            else:
                error_msgs.append(f"While copying the parameter named \"{key}\", expected "
                                  f"torch.Tensor or Tensor-like object from checkpoint but "
                                  f"received {type(value)}")
                continue
            if target.ndim == 0 and arr.shape == (1,):
                arr = arr.reshape(())
            if arr.shape != target._array.shape:
                error_msgs.append(f"size mismatch for {key}: copying a param with shape "
                                  f"{tuple(arr.shape)} from checkpoint, the shape in current "
                                  f"model is {tuple(target._array.shape)}.")
                continue
            if not np.can_cast(arr.dtype, target._array.dtype, "unsafe") or (
                    arr.dtype.kind == "c" and target._array.dtype.kind != "c"):
                error_msgs.append(f"While copying the parameter named \"{key}\", whose "
                                  f"dimensions in the model are {tuple(target.shape)} and whose "
                                  f"dimensions in the checkpoint are {tuple(arr.shape)}, an "
                                  f"exception occurred : (can't copy {arr.dtype} into "
                                  f"{target._array.dtype})")
                continue
            if assign:
                new = value if isinstance(value, Tensor) else Tensor._wrap(arr)
                if isinstance(target, Parameter):
                    new = (new.requires_grad_(target.requires_grad) if isinstance(new, Parameter)
                           else Parameter(new, requires_grad=target.requires_grad))
                _queue(("assign", self, name, new))
            else:
                _queue(("copy", target, arr))
        extra_key = prefix + _EXTRA_STATE
        if type(self).set_extra_state is not StateDictMixin.set_extra_state:
            if extra_key in state_dict:
                _queue(("extra", self, state_dict[extra_key]))
            elif strict:
                missing_keys.append(extra_key)
        elif strict and extra_key in state_dict:
            unexpected_keys.append(extra_key)
        if strict:
            for key in state_dict:
                if key.startswith(prefix) and key != extra_key:
                    head, dot, _ = key[len(prefix):].partition(".")
                    if (dot and head not in self._modules) or (not dot and head not in local):
                        unexpected_keys.append(key)

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False
                        ) -> _IncompatibleKeys:
        """Copy ``state_dict`` (Tensors or NumPy arrays by dotted name) into the parameters and
        buffers, keeping their dtypes. Every entry is checked first: a failed load changes
        nothing.

        Args:
            state_dict: a mapping as ``state_dict()`` returns (a PyTorch state dict converted
                to NumPy loads as it is).
            strict: missing and unexpected keys are errors.
            assign: make the given tensors the parameters and buffers (sharing their memory)
                instead of copying into the existing ones.
        Returns:
            ``(missing_keys, unexpected_keys)``.
        Raises:
            RuntimeError: ``Error(s) in loading state_dict for <Class>:`` and the missing keys,
                unexpected keys, size mismatches and unusable values.
        """
        global _pending_loads
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing: list[str] = []
        unexpected: list[str] = []
        errors: list[str] = []
        metadata = getattr(state_dict, "_metadata", None)
        state_dict = OrderedDict(state_dict)
        if metadata is not None:
            state_dict._metadata = metadata
        post: list[Any] = []
        outer, _pending_loads = _pending_loads, []
        try:
            def load(module: Any, local: dict, prefix: str = "") -> None:
                meta = {} if metadata is None else dict(metadata.get(prefix[:-1], {}))
                if assign:
                    meta["assign_to_params_buffers"] = True
                module._load_from_state_dict(local, prefix, meta, True, missing, unexpected,
                                             errors)
                for name, child in module._modules.items():
                    if child is not None:
                        cp = prefix + name + "."
                        load(child, {k: v for k, v in local.items() if k.startswith(cp)}, cp)
                if module._load_state_dict_post_hooks:
                    post.append(module)

            load(self, state_dict)
            actions = _pending_loads
        finally:
            _pending_loads = outer
        keys = _IncompatibleKeys(missing, unexpected)

        def fail(msgs: list[str]) -> RuntimeError:
            return RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                                + "\n\t".join(msgs))

        def strict_msgs() -> list[str]:
            msgs = []
            if strict and missing:
                msgs.append("Missing key(s) in state_dict: "
                            + ", ".join(f'"{k}"' for k in missing) + ". ")
            if strict and unexpected:
                msgs.append("Unexpected key(s) in state_dict: "
                            + ", ".join(f'"{k}"' for k in unexpected) + ". ")
            return msgs

        if errors or (not post and strict_msgs()):
            raise fail(strict_msgs() + errors)
        # NOTE: post-hooks may clear keys to let a strict load pass, so with them the copies
        # run first and are undone if the load still fails. A copy that fails midway (a value
        # NumPy cannot convert, set_extra_state raising) undoes the ones before it, so a failed
        # load never leaves some parameters loaded and others not.
        undo: list = []
        try:
            _apply_loads(actions, keep_undo=True, undo=undo)
        except BaseException:
            _undo_loads(undo)
            raise
        for module in post:
            for hook in module._load_state_dict_post_hooks.values():
                if hook(module, keys) is not None:
                    raise AssertionError("Hooks registered with "
                                         "``register_load_state_dict_post_hook`` are not expected "
                                         "to return new values, if incompatible_keys need to be "
                                         "modified, it should be done inplace.")
        msgs = strict_msgs()
        if msgs:
            _undo_loads(undo)
            raise fail(msgs)
        return keys


def _queue(action: tuple) -> None:
    if _pending_loads is None:
        _apply_loads([action], keep_undo=False)
    else:
        _pending_loads.append(action)


def _apply_loads(actions: list, keep_undo: bool, undo: list | None = None) -> list:
    undo = [] if undo is None else undo
    with autograd.no_grad():
        for action in actions:
            kind = action[0]
            if kind == "copy":
                _, target, arr = action
                if keep_undo:
                    undo.append(("copy", target, target._array.copy()))
                target._write("load_state_dict", arr, casting="unsafe")
            elif kind == "assign":
                _, module, name, new = action
                if keep_undo:
                    store = module._parameters if name in module._parameters else module._buffers
                    undo.append(("assign", module, name, store[name]))
                setattr(module, name, new)
            else:
                _, module, state = action
                if keep_undo:
                    undo.append(("extra", module, module.get_extra_state()))
                module.set_extra_state(state)
    return undo


def _undo_loads(undo: list) -> None:
    with autograd.no_grad():
        for action in reversed(undo):
            if action[0] == "copy":
                action[1]._write("load_state_dict", action[2], casting="unsafe")
            elif action[0] == "extra":
                action[1].set_extra_state(action[2])
            else:
                setattr(action[1], action[2], action[3])
