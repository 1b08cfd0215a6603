"""Reverse-mode autograd: the Function base class, the graph walk and grad-mode switches.

A Function (tinygrad's shape, PyTorch's names) maps NumPy arrays to one NumPy array in
``forward`` and an output gradient to input gradients in ``backward``. ``Function.apply`` wraps it
for Tensors and records the node when any input requires grad.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

if TYPE_CHECKING:
    from nncore.tensor import Tensor

_grad_enabled = True
# NOTE: installed through set_tracer (nncore.onnx.export, while it traces a model): called as
# tracer(ctx, inputs, kwargs, output) after every op. None otherwise, so the cost when not
# exporting is one global test.
_tracer: Any = None
# NOTE: installed through set_span_recorder (nncore.profiler, while profiling); off, the cost per
# op is one module-global test in Function.apply and one in the backward walk.
_spans: Any = None


def set_tracer(tracer: Callable[..., None] | None) -> Callable[..., None] | None:
    """Install the op tracer: ``tracer(ctx, inputs, kwargs, output)`` runs after every
    ``Function.apply`` (the ONNX exporter records the graph with it).

    Args:
        tracer: the callable, or None to remove it.
    Returns:
        The tracer it replaces, for the caller to restore.
    """
    global _tracer
    prev, _tracer = _tracer, tracer
    return prev


def set_span_recorder(recorder: Any) -> Any:
    """Install the span recorder: ``recorder.forward(ctx, arrays, kwargs)`` runs each op's
    forward and ``recorder.backward(...)`` each backward step (nncore.profiler times them).

    Args:
        recorder: the recorder, or None to remove it.
    Returns:
        The recorder it replaces, for the caller to restore.
    """
    global _spans
    prev, _spans = _spans, recorder
    return prev


def is_grad_enabled() -> bool:
    """Whether operations are currently recorded for backward."""
    return _grad_enabled


_inference_mode = False


def is_inference_mode_enabled() -> bool:
    """Whether an ``inference_mode()`` block is active."""
    return _inference_mode


def _set_modes(grad: bool, inference: bool) -> None:
    global _grad_enabled, _inference_mode
    _grad_enabled, _inference_mode = grad, inference


class _ModeContext:
    """A context manager that also decorates functions (and generator functions, whose every
    step then runs inside the mode), as PyTorch's grad-mode classes."""

    def __enter__(self) -> None:
        raise NotImplementedError

    def __exit__(self, *exc: object) -> None:
        raise NotImplementedError

    def clone(self) -> _ModeContext:
        return type(self)()

    def __call__(self, fn: Callable) -> Callable:
        if inspect.isgeneratorfunction(fn):
            return _wrap_generator(self.clone, fn)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.clone():
                return fn(*args, **kwargs)

        return wrapper


def _wrap_generator(make: Callable[[], _ModeContext], fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        gen = fn(*args, **kwargs)
        try:
            with make():
                response = gen.send(None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    with make():
                        gen.close()
                    raise
                except BaseException as e:
                    with make():
                        response = gen.throw(e)
                else:
                    with make():
                        response = gen.send(request)
        except StopIteration as stop:
            return stop.value

    return wrapper


class _GradMode(_ModeContext):
    """Grad mode set to ``enabled`` inside the block; usable bare as a decorator
    (``@no_grad`` as well as ``@no_grad()``), as in PyTorch 2."""

    enabled = True

    def __new__(cls, orig_func: Callable | None = None) -> Any:
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)

    def __init__(self, orig_func: Callable | None = None) -> None:
        self.prev = True

    def __enter__(self) -> None:
        global _grad_enabled
        self.prev = _grad_enabled
        _grad_enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        global _grad_enabled
        _grad_enabled = self.prev


class no_grad(_GradMode):  # noqa: N801 (PyTorch's name)
    """Context manager and decorator that stops recording operations for backward."""

    enabled = False


class enable_grad(_GradMode):  # noqa: N801
    """Context manager and decorator that turns recording back on inside ``no_grad``."""

    enabled = True


class set_grad_enabled(_ModeContext):  # noqa: N801
    """Turn recording on or off: as a call it takes effect at once
    (``nncore.set_grad_enabled(False)``); as a context manager or decorator it restores the
    previous mode at the end.

    Args:
        mode: True to record operations, False not to.
    """

    def __init__(self, mode: bool) -> None:
        global _grad_enabled
        self.prev = _grad_enabled
        self.mode = bool(mode)
        _grad_enabled = self.mode

    def clone(self) -> set_grad_enabled:
        return type(self)(self.mode)

    def __call__(self, fn: Callable) -> Callable:
        global _grad_enabled
        _grad_enabled = self.prev  # as a decorator, the mode applies inside the function only
        return super().__call__(fn)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        global _grad_enabled
        _grad_enabled = self.prev


class inference_mode(_ModeContext):  # noqa: N801
    """Context manager and decorator for inference: no operation is recorded (as ``no_grad``)
    and ``is_inference_mode_enabled()`` is True. ``inference_mode(False)`` turns both back.
    Unlike PyTorch, tensors made inside are ordinary tensors (no "inference tensor" checks).

    Args:
        mode: True to enter inference mode, False to leave it inside an outer one.
    """

    def __new__(cls, mode: Any = True) -> Any:
        if isinstance(mode, bool):
            return super().__new__(cls)
        return cls()(mode)

    def __init__(self, mode: bool = True) -> None:
        self.mode = mode
        self.prev = (True, False)

    def clone(self) -> inference_mode:
        return type(self)(self.mode)

    def __enter__(self) -> None:
        self.prev = (_grad_enabled, _inference_mode)
        _set_modes(not self.mode, self.mode)

    def __exit__(self, *exc: object) -> None:
        _set_modes(*self.prev)


class Function:
    """A differentiable operation over NumPy arrays.

    Subclasses define ``forward(self, *arrays, **kwargs) -> ndarray`` and
    ``backward(self, grad) -> ndarray | tuple[ndarray | None, ...]`` (one gradient per Tensor
    input, None where ``needs_input_grad`` is False). Non-Tensor arguments go as keywords.

    A recorded Function is a node of the graph: ``parents`` holds, per input, the Function that
    made it or the leaf Tensor itself, captured when the op ran, so an in-place op that later
    gives an input a new history does not change this op's gradient (PyTorch's grad_fn edges).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # PyTorch's style (static forward(ctx, ...) and backward(ctx, ...) over Tensors) gets
        # its own apply; nncore's ops keep the array-level one.
        if isinstance(cls.__dict__.get("forward"), staticmethod) and "apply" not in cls.__dict__:
            cls.apply = classmethod(_apply_static)

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
        arrays = [t._array for t in tensors]
        try:
            if _spans is None:
                out = ctx.forward(*arrays, **kwargs)
            else:
                out = _spans.forward(ctx, arrays, kwargs)
        except ValueError as e:
            out = _forward_aligned(ctx, arrays, kwargs, e)
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


class FunctionCtx(Function):
    """The ``ctx`` of a PyTorch-style Function (static ``forward(ctx, *args)`` and
    ``backward(ctx, *grads)`` over Tensors, or ``forward(*args)`` plus ``setup_context``); it is
    also the op's node in the graph. Arguments that are not Tensors get no gradient."""

    def save_for_backward(self, *tensors: Any) -> None:
        self.saved_tensors = tensors

    def mark_non_differentiable(self, *tensors: Any) -> None:
        self.non_differentiable = {id(t) for t in tensors}

    def set_materialize_grads(self, value: bool) -> None:
        """Accepted for PyTorch's API; nothing to do: the one output's gradient always exists
        when backward runs (several outputs are not supported)."""

    def mark_dirty(self, *tensors: Any) -> None:
        raise NotImplementedError(
            "torch.autograd.Function ctx.mark_dirty (a custom Function that modifies its inputs "
            "in place) is not supported by nncore; return a new tensor instead")

    def backward(self, grad: np.ndarray) -> tuple:
        name = f"{self.fn_class.__name__}Backward"
        with no_grad():
            outs = self.fn_class.backward(self, _make_tensor(grad, None))
        outs = outs if isinstance(outs, tuple) else (outs,)
        n = len(self.needs_input_grad)
        if len(outs) < n or any(g is not None for g in outs[n:]):
            raise RuntimeError(f"function {name} returned an incorrect number of gradients "
                               f"(expected {n}, got {len(outs)})")
        grads = []
        for i, (arg, g, need) in enumerate(zip(self.args, outs, self.needs_input_grad)):
            if g is None or not need:
                grads.append(None)
                continue
            a = np.asarray(g._array if isinstance(g, _Tensor) else g, dtype=arg._array.dtype)
            if a.shape != arg._array.shape:
                try:
                    a = unbroadcast(np.broadcast_to(a, np.broadcast_shapes(
                        a.shape, arg._array.shape)), arg._array.shape)
                except ValueError:
                    a = None
                if a is None or a.shape != arg._array.shape:
                    raise RuntimeError(
                        f"Function {name} returned an invalid gradient at index {i} - got "
                        f"{list(np.shape(g))} but expected shape compatible with "
                        f"{list(arg._array.shape)}")
            grads.append(a)
        return tuple(grads)


def _apply_static(cls: type, *args: Any, **kwargs: Any) -> Tensor:
    """``Function.apply`` of a PyTorch-style Function: forward runs on Tensors with grad mode
    off; the output records a FunctionCtx node when any Tensor argument requires grad."""
    if kwargs:
        raise TypeError(f"{cls.__name__}.apply() takes no keyword arguments (PyTorch's "
                        f"Function.apply takes the forward's arguments positionally)")
    ctx = FunctionCtx()
    ctx.fn_class = cls
    ctx.needs_input_grad = tuple(
        [isinstance(a, _Tensor) and a.requires_grad for a in args])
    with no_grad():
        if getattr(cls, "setup_context", None) is not None:  # forward(*args) + setup_context
            out = cls.forward(*args)
            cls.setup_context(ctx, args, out)
        else:
            out = cls.forward(ctx, *args)
    if isinstance(out, (tuple, list)):
        raise NotImplementedError(
            "torch.autograd.Function with several outputs is not supported by nncore; "
            "return one Tensor (e.g. torch.cat the outputs and split them after apply)")
    if not isinstance(out, _Tensor):
        raise TypeError(f"{cls.__name__}.forward must return a Tensor, got {type(out).__name__}")
    differentiable = id(out) not in getattr(ctx, "non_differentiable", ())
    tensors = tuple([a for a in args if isinstance(a, _Tensor)])
    if _grad_enabled and True in ctx.needs_input_grad and differentiable:
        ctx.args = args
        ctx.inputs = tensors
        ctx.parents = tuple([(a._ctx or a) if isinstance(a, _Tensor) else None for a in args])
        ctx.versions = tuple([t._version for t in tensors])
        result = _make_tensor(out._array, ctx)
    else:
        result = _make_tensor(out._array, None)
    if _tracer is not None:  # the ONNX exporter refuses it by name (onnx/ops.py)
        _tracer(ctx, tensors, {}, result)
    return result


def once_differentiable(fn: Callable) -> Callable:
    """PyTorch's decorator for a backward that is not itself differentiable: nncore's backward
    never records a graph (no double backward), so it returns ``fn`` unchanged."""
    return fn


def _forward_aligned(ctx: Function, arrays: list[np.ndarray], kwargs: dict,
                     error: ValueError) -> np.ndarray:
    """``ctx.forward`` again with misaligned inputs copied, after it raised ``error``; re-raises
    ``error`` when that was not a native kernel refusing a misaligned array.

    NOTE: NumPy and PyTorch allow a float view at an odd byte offset (``frombuffer(b,
    offset=1)``); the native kernels refuse such arrays (misaligned loads are undefined
    behaviour). Checking every input of every op cost ~0.1 us per array on the hot path, for
    arrays that are nearly always aligned; the refusal costs nothing until it happens, and the
    op then runs on aligned copies (its backward uses what this forward saved).
    """
    if "not aligned" not in str(error) or all(a.flags.aligned for a in arrays):
        raise error
    arrays = [a if a.flags.aligned else np.array(a, copy=True) for a in arrays]
    if _spans is None:
        return ctx.forward(*arrays, **kwargs)
    return _spans.forward(ctx, arrays, kwargs)


# NOTE: set by register_tensor_type, which nncore.tensor calls once its class exists: autograd
# makes Tensors but cannot import nncore.tensor (which imports autograd). This is the core's one
# documented exception to "import what you use" (CONTRIBUTING.md); a module global keeps the
# per-op cost of making an output to one allocation.
_Tensor: Any = None


def register_tensor_type(cls: type) -> None:
    """Name the class ``Function.apply`` makes its outputs of (called once, by nncore.tensor).

    Args:
        cls: the Tensor class.
    """
    global _Tensor
    _Tensor = cls


def _make_tensor(data: np.ndarray, ctx: Function | None) -> Tensor:
    t = _Tensor.__new__(_Tensor)
    # NOTE: NumPy gives scalars (np.float32, not 0-d arrays) for full reductions and integer
    # indexing; a Tensor always holds an ndarray (in-place ops, __array__ and views need one).
    t._array = data if type(data) is np.ndarray else np.asarray(data)
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


def _topological_order(roots: list[Any]) -> list[Any]:
    # NOTE: iterative depth-first search, so a graph 10,000 ops deep never meets the recursion
    # limit (an RNN unrolled over a long sequence). Nodes are Functions and leaf Tensors; each
    # node comes after every node it was computed from.
    order: list[Any] = []
    visited: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False) for root in reversed(roots)]
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


def _run_hooks(hooks: list[Callable], g: np.ndarray, dtype: np.dtype | None = None
               ) -> np.ndarray:
    """``g`` passed through tensor hooks in order; a hook returning a tensor replaces it."""
    for hook in list(hooks):
        new = hook(_make_tensor(g, None))
        if new is not None:
            g = np.asarray(new._array if isinstance(new, _Tensor) else new,
                           dtype=g.dtype if dtype is None else dtype)
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
        # NOTE: an input that an in-place op rebound to this op's own output (``x.exp_()``)
        # holds the output this op saved; writes into it after the op set output_modified.
        if t._version != v and t._ctx is not ctx and any(
                np.may_share_memory(s._array if isinstance(s, _Tensor) else s, t._array)
                for s in saved if isinstance(s, (np.ndarray, _Tensor))):
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by "
                f"an inplace operation: a tensor of shape {tuple(t._array.shape)} and dtype "
                f"{t._array.dtype} is at version {t._version}; expected version {v} instead "
                f"(input of {type(ctx).__name__}); clone() it before the in-place change")


def backward(root: Tensor, grad: np.ndarray, retain_graph: bool = False) -> None:
    """Accumulate d(root)/d(leaf) * grad into ``.grad`` of every leaf that requires grad."""
    if type(grad) is not np.ndarray:
        grad = np.asarray(grad)
    _run([(root._ctx if root._ctx is not None else root, grad)], retain_graph, None)


def _run(starts: list[tuple[Any, np.ndarray]], retain_graph: bool,
         capture: dict[int, Any] | None) -> None:
    """The backward walk from ``starts`` (node, gradient) pairs. Without ``capture`` gradients
    accumulate into the leaves; with it (``grad()``), the gradients reaching the nodes keyed in
    ``capture`` are stored there, no ``.grad`` changes and only the part of the graph between
    the outputs and those nodes runs."""
    grads: dict[int, np.ndarray] = {}
    for node, g in starts:
        key = id(node)
        grads[key] = grads.pop(key) + g if key in grads else g
    order = _topological_order([node for node, _ in starts])
    upstream = None if capture is None else _upstream(order, capture)
    for node in reversed(order):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        is_fn = isinstance(node, Function)
        if is_fn and "grad_hooks" in node.__dict__:
            g = _run_hooks(node.grad_hooks.pre, g)
        if capture is not None:
            if id(node) in capture:
                capture[id(node)] = g
            if not is_fn or id(node) not in upstream:
                continue
        elif not is_fn:
            _accumulate(node, g)
            continue
        if node.versions != tuple([t._version for t in node.inputs]) or hasattr(
                node, "output_modified"):
            _check_versions(node)
        retained = getattr(node, "retained", None)
        if retained is not None and capture is None:
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


def _upstream(order: list[Any], capture: dict[int, Any]) -> set[int]:
    """Ids of the Functions with a captured node among their ancestors (whose backward
    ``grad()`` must run)."""
    reaches: set[int] = set(capture)
    up: set[int] = set()
    for node in order:  # ancestors first
        if isinstance(node, Function) and any(
                need and id(p) in reaches for p, need in zip(node.parents,
                                                              node.needs_input_grad)):
            up.add(id(node))
            reaches.add(id(node))
    return up


def grad(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: bool | None = None,
         create_graph: bool = False, only_inputs: bool = True, allow_unused: bool | None = None,
         is_grads_batched: bool = False, materialize_grads: bool = False) -> tuple[Any, ...]:
    """Gradients of ``outputs`` with respect to ``inputs``, returned instead of accumulated
    into ``.grad`` (``torch.autograd.grad``).

    Args:
        outputs: a Tensor or a sequence of Tensors.
        inputs: a Tensor or a sequence of Tensors (leaves or intermediate results) that
            require grad.
        grad_outputs: the gradient of each output (None: 1 for single-element outputs).
        retain_graph: keep what the graph saved, for another backward through it.
        allow_unused: return None (zeros with ``materialize_grads``) for an input the outputs
            do not depend on, instead of raising.
    Returns:
        A tuple with one gradient (or None) per input.
    Raises:
        RuntimeError: an output or input that does not require grad; an unused input.
        NotImplementedError: ``create_graph`` or ``is_grads_batched``.
    """
    if create_graph:
        raise NotImplementedError("autograd.grad(create_graph=True): higher-order gradients are "
                                  "not supported by nncore")
    if is_grads_batched:
        raise NotImplementedError("autograd.grad(is_grads_batched=True) is not supported by "
                                  "nncore")
    outs = _as_tuple(outputs, "outputs")
    ins = _as_tuple(inputs, "inputs")
    if grad_outputs is None:
        gouts: tuple = (None,) * len(outs)
    else:
        gouts = _as_tuple(grad_outputs, "grad_outputs", allow_none=True)
        if len(gouts) != len(outs):
            raise RuntimeError(f"grad requires one grad_output per output: got "
                               f"{len(gouts)} grad_outputs and {len(outs)} outputs")
    starts = []
    for i, (out, g) in enumerate(zip(outs, gouts)):
        if not out.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have "
                               f"a grad_fn")
        if g is None:
            if out._array.size != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs, "
                                   f"got shape {tuple(out._array.shape)}")
            g = np.ones_like(out._array)
        else:
            g = np.asarray(g._array if isinstance(g, _Tensor) else g, dtype=out._array.dtype)
            if g.shape != out._array.shape:
                raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of "
                                   f"{g.shape} and output[{i}] has a shape of "
                                   f"{tuple(out._array.shape)}.")
        starts.append((out._ctx if out._ctx is not None else out, g))
    for i, t in enumerate(ins):
        if not t.requires_grad:
            raise RuntimeError(f"One of the differentiated Tensors (input {i}) does not require "
                               f"grad")
    keys = [id(t._ctx if t._ctx is not None else t) for t in ins]
    capture: dict[int, Any] = dict.fromkeys(keys)
    _run(starts, bool(retain_graph), capture)
    result = []
    for t, key in zip(ins, keys):
        g = capture[key]
        if g is None:
            if not (allow_unused or materialize_grads):
                raise RuntimeError("One of the differentiated Tensors appears to not have been "
                                   "used in the graph. Set allow_unused=True if this is the "
                                   "desired behavior.")
            result.append(_make_tensor(np.zeros_like(t._array), None) if materialize_grads
                          else None)
        else:
            result.append(_make_tensor(np.asarray(g, dtype=t._array.dtype), None))
    return tuple(result)


def _as_tuple(x: Any, name: str, allow_none: bool = False) -> tuple:
    if isinstance(x, _Tensor) or (allow_none and x is None):
        return (x,)
    if not isinstance(x, Sequence):
        raise TypeError(f"grad: {name} must be a Tensor or a sequence of Tensors, got "
                        f"{type(x).__name__}")
    for item in x:
        if not (isinstance(item, _Tensor) or (allow_none and item is None)):
            raise TypeError(f"grad: {name} must hold Tensors, got {type(item).__name__}")
    return tuple(x)


def _release(node: Function) -> None:
    """Free what a Function saved for backward once its gradient has been computed, as PyTorch
    does without retain_graph (a second backward through it then raises)."""
    node.__dict__.pop("saved_tensors", None)
    node.released = True
