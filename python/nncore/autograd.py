"""Reverse-mode autograd: the Function base class, the graph walk and grad-mode switches.

A Function (tinygrad's shape, PyTorch's names) maps NumPy arrays to one NumPy array in
``forward`` and an output gradient to input gradients in ``backward``. ``Function.apply`` wraps it
for Tensors and records the node when any input requires grad.
"""

from __future__ import annotations

import functools
import sys
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

if TYPE_CHECKING:
    from nncore.tensor import Tensor

_grad_enabled = True
# NOTE: set by nncore.onnx.export while it traces a model: called as tracer(ctx, inputs, kwargs,
# output) after every op. None otherwise, so the cost when not exporting is one global test.
_tracer: Any = None
# NOTE: nncore.profiler installs its span recorder here while profiling; off, the cost per op is
# one module-global test in Function.apply and one in the backward walk.
_spans: Any = None


def is_grad_enabled() -> bool:
    """Whether operations are currently recorded for backward."""
    return _grad_enabled


class _GradMode:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.prev = True

    def __enter__(self) -> None:
        global _grad_enabled
        self.prev = _grad_enabled
        _grad_enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        global _grad_enabled
        _grad_enabled = self.prev

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):  # noqa: N801 (PyTorch's name)
    """Context manager and decorator that stops recording operations for backward."""

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(_GradMode):  # noqa: N801
    """Context manager and decorator that turns recording back on inside ``no_grad``."""

    def __init__(self) -> None:
        super().__init__(True)


class Function:
    """A differentiable operation over NumPy arrays.

    Subclasses define ``forward(self, *arrays, **kwargs) -> ndarray`` and
    ``backward(self, grad) -> ndarray | tuple[ndarray | None, ...]`` (one gradient per Tensor
    input, None where ``needs_input_grad`` is False). Non-Tensor arguments go as keywords.

    A recorded Function is a node of the graph: ``parents`` holds, per input, the Function that
    made it or the leaf Tensor itself, captured when the op ran, so an in-place op that later
    gives an input a new history does not change this op's gradient (PyTorch's grad_fn edges).
    """

    def save_for_backward(self, *arrays: Any) -> None:
        self.saved_tensors = arrays

    def forward(self, *arrays: np.ndarray, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *tensors: Tensor, **kwargs: Any) -> Tensor:
        ctx = cls()
        needs = tuple([t.requires_grad for t in tensors])
        ctx.needs_input_grad = needs
        if _spans is None:
            out = ctx.forward(*[t._array for t in tensors], **kwargs)
        else:
            out = _spans.forward(ctx, [t._array for t in tensors], kwargs)
        if _grad_enabled and True in needs:
            ctx.inputs = tensors
            ctx.parents = tuple([t._ctx or t for t in tensors])
            ctx.versions = tuple([t._version for t in tensors])
            result = _make_tensor(out, ctx)
        else:
            result = _make_tensor(out, None)
        if _tracer is not None:
            _tracer(ctx, tensors, kwargs, result)
        return result


# NOTE: set by nncore.tensor once its class exists (the two modules need each other); a module
# global keeps the per-op cost of making an output to one allocation.
_Tensor: Any = None


def _make_tensor(data: np.ndarray, ctx: Function | None) -> Tensor:
    t = _Tensor.__new__(_Tensor)
    t._array = data
    t.grad = None
    t.requires_grad = ctx is not None
    t._ctx = ctx
    t._version = 0
    return t


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` down to ``shape``, undoing NumPy broadcasting."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad


def _topological_order(root: Any) -> list[Any]:
    # NOTE: iterative depth-first search, so a graph 10,000 ops deep never meets the recursion
    # limit (an RNN unrolled over a long sequence). Nodes are Functions and leaf Tensors.
    order: list[Any] = []
    visited: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        if isinstance(node, Function):
            for parent, need in zip(node.parents, node.needs_input_grad):
                if need and id(parent) not in visited:
                    stack.append((parent, False))
    return order


def _owned(a: np.ndarray) -> bool:
    """Whether only its Tensor holds ``a`` (references: the Tensor, the caller's expression and
    getrefcount's argument) and ``a`` has its writeable memory to itself, so adding into it in
    place changes nothing anyone else can see. A native output from the buffer pool
    (nncore.memory) has a capsule as its base, which only the array holds."""
    base = a.base
    return (sys.getrefcount(a) <= 3 and (base is None or type(base).__name__ == "PyCapsule")
            and a.flags.writeable)


def _run_hooks(hooks: list, g: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``g`` passed through tensor hooks in order; a hook returning a tensor replaces it."""
    for hook in list(hooks):
        new = hook(_make_tensor(g, None))
        if new is not None:
            g = np.asarray(new._array if isinstance(new, _Tensor) else new, dtype=dtype)
    return g


def _accumulate(leaf: Tensor, g: np.ndarray) -> None:
    """Add ``g`` into ``leaf.grad`` (PyTorch's AccumulateGrad), then run the leaf's hooks."""
    if type(g) is not np.ndarray or g.dtype != leaf._array.dtype:
        g = np.asarray(g, dtype=leaf._array.dtype)
    hooks = getattr(leaf, "_hooks", None)
    if hooks:
        g = _run_hooks(hooks.pre, g, leaf._array.dtype)
    if leaf.grad is None:
        leaf.grad = _make_tensor(g, None)
    elif _owned(leaf.grad._array):
        # NOTE: in place, as PyTorch's AccumulateGrad: nothing else holds the array.
        np.add(leaf.grad._array, g, out=leaf.grad._array)
    else:
        # NOTE: out of place, so a gradient array shared by two leaves (a + b gives both the
        # same array) never aliases.
        leaf.grad = _make_tensor(leaf.grad._array + g, None)
    if hooks:
        for hook in list(hooks.post):
            hook(leaf)


def _check_versions(ctx: Function) -> None:
    """Raise when an array this op saved for backward was changed in place after the op ran
    (PyTorch's version-counter check)."""
    saved = getattr(ctx, "saved_tensors", ())
    modified = getattr(ctx, "output_modified", None)
    if modified is not None:
        raise RuntimeError(
            f"one of the variables needed for gradient computation has been modified by an "
            f"inplace operation: the output of {type(ctx).__name__} (shape {modified}) was "
            f"changed after the op saved it; clone() it before the in-place change")
    for t, v in zip(ctx.inputs, ctx.versions):
        if t._version != v and any(
                isinstance(s, np.ndarray) and np.may_share_memory(s, t._array) for s in saved):
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by "
                f"an inplace operation: a tensor of shape {tuple(t._array.shape)} and dtype "
                f"{t._array.dtype} is at version {t._version}; expected version {v} instead "
                f"(input of {type(ctx).__name__}); clone() it before the in-place change")


def backward(root: Tensor, grad: np.ndarray, retain_graph: bool = False) -> None:
    """Accumulate d(root)/d(leaf) * grad into ``.grad`` of every leaf that requires grad."""
    if type(grad) is not np.ndarray:
        grad = np.asarray(grad)
    start = root._ctx if root._ctx is not None else root
    grads: dict[int, np.ndarray] = {id(start): grad}
    for node in reversed(_topological_order(start)):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if not isinstance(node, Function):
            _accumulate(node, g)
            continue
        if node.versions != tuple([t._version for t in node.inputs]) or hasattr(
                node, "output_modified"):
            _check_versions(node)
        hooks = getattr(node, "grad_hooks", None)
        if hooks is not None:
            g = _run_hooks(hooks.pre, g, g.dtype)
        retained = getattr(node, "retained", None)
        if retained is not None:
            retained.grad = _make_tensor(np.array(g), None)
        if getattr(node, "released", False):
            raise RuntimeError(
                f"Trying to backward through the graph a second time ({type(node).__name__} "
                f"freed what it saved after the first backward); pass retain_graph=True to the "
                f"first backward() to keep it")
        in_grads = node.backward(g) if _spans is None else _spans.backward(node, g)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        for parent, pg, need in zip(node.parents, in_grads, node.needs_input_grad):
            if need and pg is not None:
                if type(pg) is not np.ndarray:
                    # NOTE: NumPy returns scalars from 0-d arithmetic ((loss / 2) backward);
                    # native kernels take arrays.
                    pg = np.asarray(pg)
                key = id(parent)
                # NOTE: popped into the expression, not held in a local, so when nothing else
                # holds the running sum NumPy's temporary elision adds into it in place (no new
                # array and its page faults for a residual connection's gradient).
                grads[key] = grads.pop(key) + pg if key in grads else pg
        if not retain_graph:
            _release(node)


def _release(node: Function) -> None:
    """Free what a Function saved for backward once its gradient has been computed, as PyTorch
    does without retain_graph (a second backward through it then raises)."""
    node.__dict__.pop("saved_tensors", None)
    node.released = True
