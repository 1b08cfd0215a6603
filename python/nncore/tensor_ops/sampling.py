"""Random sampling: factories (``rand``, ``randn``, ``randint``, ``randperm``, ``normal``,
``bernoulli``, ``multinomial``, ``poisson``) and in-place fills (``uniform_``, ``normal_``,
``bernoulli_``...), each drawing from ``generator=`` or the default generator that
``nncore.manual_seed`` seeds. Same seed, same bits (independent of the thread count)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nncore import devices as _device
from nncore import dtypes
from nncore.ops import pointwise as pw
from nncore.random import numpy_generator
from nncore.tensor import Tensor
from nncore.tensor_ops.creation import _dtype, _finish, _size

__all__ = [
    "bernoulli", "multinomial", "normal", "poisson", "rand", "rand_like", "randint",
    "randint_like", "randn", "randn_like", "randperm",
]
METHODS = (
    "bernoulli", "bernoulli_", "cauchy_", "exponential_", "geometric_", "log_normal_",
    "multinomial", "normal_", "random_", "uniform_",
)


def _float_dtype(op: str, d: np.dtype, kernel: str) -> np.dtype:
    if d.kind != "f":
        raise NotImplementedError(f"{op}: \"{kernel}\" not implemented for "
                                  f"'{dtypes.from_numpy(d).name}'")
    return d


def randn(*size: Any, generator: Any = None, out: Any = None, dtype: Any = None,
          layout: Any = None, device: Any = None, requires_grad: bool = False,
          pin_memory: bool = False) -> Tensor:
    """Standard normal samples of the given size (the default float dtype)."""
    d = _float_dtype("randn", _dtype(dtype), "normal_kernel_cpu")
    arr = numpy_generator(generator).standard_normal(_size("randn", size)).astype(d)
    return _finish(arr, requires_grad, device, "randn")


def rand(*size: Any, generator: Any = None, out: Any = None, dtype: Any = None,
         layout: Any = None, device: Any = None, requires_grad: bool = False,
         pin_memory: bool = False) -> Tensor:
    """Uniform samples in [0, 1) of the given size (the default float dtype)."""
    d = _float_dtype("rand", _dtype(dtype), "check_uniform_bounds")
    arr = numpy_generator(generator).random(_size("rand", size)).astype(d)
    return _finish(arr, requires_grad, device, "rand")


def randn_like(input: Tensor, *, generator: Any = None, dtype: Any = None, layout: Any = None,
               device: Any = None, requires_grad: bool = False, memory_format: Any = None
               ) -> Tensor:
    """``randn`` with ``input``'s shape (and dtype unless ``dtype`` is given)."""
    return randn(input._array.shape, generator=generator, device=device,
                 dtype=input._array.dtype if dtype is None else dtype,
                 requires_grad=requires_grad)


def rand_like(input: Tensor, *, generator: Any = None, dtype: Any = None, layout: Any = None,
              device: Any = None, requires_grad: bool = False, memory_format: Any = None
              ) -> Tensor:
    """``rand`` with ``input``'s shape (and dtype unless ``dtype`` is given)."""
    return rand(input._array.shape, generator=generator, device=device,
                dtype=input._array.dtype if dtype is None else dtype,
                requires_grad=requires_grad)


def _bounds(op: str, low: Any, high: Any) -> tuple[int, int]:
    low, high = int(low), int(high)
    if low >= high:
        raise RuntimeError(f"{op}: random_ expects 'from' to be less than 'to', but got "
                           f"from={low} >= to={high}")
    return low, high


def randint(*args: Any, size: Any = None, generator: Any = None, out: Any = None,
            dtype: Any = None, layout: Any = None, device: Any = None,
            requires_grad: bool = False, pin_memory: bool = False, low: Any = None,
            high: Any = None) -> Tensor:
    """Integers uniform in [low, high): ``randint(high, size)`` or ``randint(low, high, size)``
    (int64 unless ``dtype`` says otherwise)."""
    if size is None:
        if not args:
            raise TypeError("randint() missing required argument 'size'")
        *bounds, size = args
    else:
        bounds = list(args)
    if high is not None:
        bounds = [0 if low is None else low, high] if not bounds else bounds + [high]
    if len(bounds) == 1:
        lo, hi = 0, bounds[0]
    elif len(bounds) == 2:
        lo, hi = bounds
    else:
        raise TypeError(f"randint: expected (high, size) or (low, high, size), got {args!r:.80}")
    lo, hi = _bounds("randint", lo, hi)
    shape = _size("randint", (size,))
    arr = numpy_generator(generator).integers(lo, hi, size=shape).astype(_dtype(dtype, np.int64))
    return _finish(arr, requires_grad, device, "randint")


def randint_like(input: Tensor, low: Any = 0, high: Any = None, *, generator: Any = None,
                 dtype: Any = None, layout: Any = None, device: Any = None,
                 requires_grad: bool = False, memory_format: Any = None) -> Tensor:
    """``randint`` with ``input``'s shape and dtype: ``randint_like(x, high)`` or
    ``randint_like(x, low, high)``."""
    if high is None:
        low, high = 0, low
    return randint(low, high, input._array.shape, generator=generator, device=device,
                   dtype=input._array.dtype if dtype is None else dtype,
                   requires_grad=requires_grad)


def randperm(n: int, *, generator: Any = None, out: Any = None, dtype: Any = None,
             layout: Any = None, device: Any = None, requires_grad: bool = False,
             pin_memory: bool = False) -> Tensor:
    """A random permutation of 0..n-1 (int64 unless ``dtype`` is given)."""
    n = int(n)
    if n < 0:
        raise RuntimeError(f"randperm: n must be non-negative, got {n}")
    arr = numpy_generator(generator).permutation(n).astype(_dtype(dtype, np.int64))
    return _finish(arr, requires_grad, device, "randperm")


def _probabilities(op: str, p: Any) -> np.ndarray:
    arr = p._array if isinstance(p, Tensor) else np.asarray(p, dtype=np.float64)
    if np.any((arr < 0) | (arr > 1)) or np.any(np.isnan(arr)):
        raise RuntimeError(f"{op}: Expected p_in >= 0 && p_in <= 1 to be true, but got false.")
    return arr


def bernoulli(input: Tensor, p: Any = None, *, generator: Any = None, out: Any = None
              ) -> Tensor:
    """0/1 samples with probabilities ``input`` (or the number ``p``), in ``input``'s dtype."""
    if out is not None:
        raise NotImplementedError("bernoulli(out=...): not supported by nncore")
    probs = _probabilities("bernoulli", input if p is None else p)
    u = numpy_generator(generator).random(input._array.shape)
    return Tensor._wrap((u < probs).astype(input._array.dtype))


def normal(mean: Any = 0.0, std: Any = 1.0, size: Any = None, *, generator: Any = None,
           out: Any = None, dtype: Any = None, layout: Any = None, device: Any = None,
           requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """Normal samples: elementwise means and standard deviations from tensors (broadcast),
    or numbers with ``size``. The result has no gradient to ``mean``/``std`` (as PyTorch's,
    whose gradient is zero).

    Raises:
        RuntimeError: a negative std, or tensors that do not broadcast.
    """
    if out is not None:
        raise NotImplementedError("normal(out=...): not supported by nncore")
    _device.check(device, "normal")
    tm, ts = isinstance(mean, Tensor), isinstance(std, Tensor)
    m = mean._array if tm else mean
    s = std._array if ts else std
    if np.any(np.asarray(s) < 0):
        raise RuntimeError(f"normal expects std >= 0.0, but found std "
                           f"{np.min(s) if ts else s}")
    if tm or ts:
        d = (mean if tm else std)._array.dtype
        try:
            shape = np.broadcast_shapes(np.shape(m), np.shape(s)) if tm and ts else \
                np.shape(m if tm else s)
        except ValueError:
            raise RuntimeError(f"normal: the size of mean {tuple(np.shape(m))} and std "
                               f"{tuple(np.shape(s))} do not broadcast") from None
    else:
        if size is None:
            raise TypeError("normal(): with float mean and std, the size argument is required")
        d, shape = _dtype(dtype), _size("normal", (size,))
    z = numpy_generator(generator).standard_normal(shape)
    arr = (z * s + m).astype(d)
    return _finish(arr, requires_grad, None, "normal")


def poisson(input: Tensor, generator: Any = None) -> Tensor:
    """Poisson samples with rates ``input``, in ``input``'s (floating) dtype."""
    a = input._array
    _float_dtype("poisson", a.dtype, "poisson_cpu")
    if np.any(a < 0):
        raise RuntimeError("poisson: invalid Poisson rate, expected rate to be non-negative")
    return Tensor._wrap(numpy_generator(generator).poisson(a).astype(a.dtype))


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *,
                generator: Any = None, out: Any = None) -> Tensor:
    """Category indices drawn with probabilities proportional to ``input``'s rows (1-D or
    2-D, non-negative, not necessarily normalised). Without replacement no index repeats
    (an exponential race; zero-weight categories come last).

    Returns:
        int64 tensor of shape (num_samples,) or (rows, num_samples).
    """
    if out is not None:
        raise NotImplementedError("multinomial(out=...): not supported by nncore")
    w = input._array
    if w.dtype.kind != "f":
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: "
                           f"{input.dtype}")
    if w.ndim not in (1, 2):
        raise RuntimeError("multinomial: prob_dist must be 1 or 2 dim")
    n = int(num_samples)
    if n <= 0:
        raise RuntimeError("multinomial: cannot sample n_sample <= 0 samples")
    if not replacement and n > w.shape[-1]:
        raise RuntimeError("multinomial: cannot sample n_sample > prob_dist.size(-1) samples "
                           "without replacement")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise RuntimeError("multinomial: probability tensor contains either `inf`, `nan` or "
                           "element < 0")
    rows = w.reshape(-1, w.shape[-1]).astype(np.float64)
    total = rows.sum(axis=1, keepdims=True)
    if np.any(total <= 0):
        raise RuntimeError("multinomial: invalid multinomial distribution (sum of probabilities "
                           "<= 0)")
    rng = numpy_generator(generator)
    if replacement:
        cdf = np.cumsum(rows / total, axis=1)
        u = rng.random((rows.shape[0], n))
        idx = np.stack([np.searchsorted(c, r, side="right") for c, r in zip(cdf, u)])
        idx = np.minimum(idx, rows.shape[1] - 1)
    else:
        with np.errstate(divide="ignore"):
            keys = rng.standard_exponential(rows.shape) / rows
        idx = np.argsort(keys, axis=1, kind="stable")[:, :n]
    return Tensor._wrap(idx.astype(np.int64).reshape(w.shape[:-1] + (n,)))


# ---- in-place fills (Tensor methods) ---------------------------------------------------------


def _fill(self: Tensor, op: str, values: Any) -> Tensor:
    arr = np.asarray(values).astype(self._array.dtype, copy=False)
    return self._inplace(op, lambda: pw.ReplaceFn.apply(self, value=arr))


def uniform_(self: Tensor, a: float = 0.0, b: float = 1.0, *, generator: Any = None,
             **kwargs: Any) -> Tensor:
    """Fill with uniform samples in [a, b) (PyTorch's ``from``/``to`` as keywords work too)."""
    a, b = kwargs.pop("from", a), kwargs.pop("to", b)
    if kwargs:
        raise TypeError(f"uniform_() got unexpected keyword arguments {sorted(kwargs)}")
    _float_dtype("uniform_", self._array.dtype, "check_uniform_bounds")
    if a > b:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found "
                           f"from={a} > to={b}")
    u = numpy_generator(generator).random(self._array.shape)
    return _fill(self, "uniform_", u * (b - a) + a)


def normal_(self: Tensor, mean: float = 0.0, std: float = 1.0, *, generator: Any = None
            ) -> Tensor:
    """Fill with normal samples."""
    _float_dtype("normal_", self._array.dtype, "normal_kernel_cpu")
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    z = numpy_generator(generator).standard_normal(self._array.shape)
    return _fill(self, "normal_", z * std + mean)


def bernoulli_(self: Tensor, p: Any = 0.5, *, generator: Any = None) -> Tensor:
    """Fill with 0/1 samples, 1 with probability ``p`` (a number or a broadcastable tensor)."""
    if not isinstance(p, Tensor) and not 0 <= p <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
    probs = _probabilities("bernoulli_", p)
    u = numpy_generator(generator).random(self._array.shape)
    return _fill(self, "bernoulli_", u < probs)


def exponential_(self: Tensor, lambd: float = 1.0, *, generator: Any = None) -> Tensor:
    """Fill with exponential samples of rate ``lambd``."""
    _float_dtype("exponential_", self._array.dtype, "exponential_cpu")
    if not lambd > 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd}")
    e = numpy_generator(generator).standard_exponential(self._array.shape)
    return _fill(self, "exponential_", e / lambd)


def cauchy_(self: Tensor, median: float = 0.0, sigma: float = 1.0, *, generator: Any = None
            ) -> Tensor:
    """Fill with Cauchy samples: median + sigma * tan(pi * (u - 1/2))."""
    _float_dtype("cauchy_", self._array.dtype, "cauchy_cpu")
    u = numpy_generator(generator).random(self._array.shape)
    return _fill(self, "cauchy_", median + sigma * np.tan(math.pi * (u - 0.5)))


def log_normal_(self: Tensor, mean: float = 1.0, std: float = 2.0, *, generator: Any = None
                ) -> Tensor:
    """Fill with exp(N(mean, std^2)) samples."""
    _float_dtype("log_normal_", self._array.dtype, "log_normal_cpu")
    z = numpy_generator(generator).standard_normal(self._array.shape)
    return _fill(self, "log_normal_", np.exp(z * std + mean))


def geometric_(self: Tensor, p: float, *, generator: Any = None) -> Tensor:
    """Fill with the number of Bernoulli(p) trials up to the first success (1, 2, ...)."""
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p}")
    return _fill(self, "geometric_",
                 numpy_generator(generator).geometric(p, self._array.shape))


def random_(self: Tensor, from_: Any = 0, to: Any = None, *, generator: Any = None,
            **kwargs: Any) -> Tensor:
    """Fill with integers uniform in [from, to): ``random_(to)``, ``random_(from, to)``, or
    ``random_()`` for [0, 2**mantissa] (floats) or [0, max] (integers)."""
    from_ = kwargs.pop("from", from_)
    if kwargs:
        raise TypeError(f"random_() got unexpected keyword arguments {sorted(kwargs)}")
    d = self._array.dtype
    if to is None and from_ == 0:
        if d.kind == "f":
            hi = 2 ** (np.finfo(d).nmant + 1) + 1
        elif d.kind == "b":
            hi = 2
        else:
            hi = int(np.iinfo(d).max) + 1
        lo = 0
    elif to is None:
        lo, hi = 0, from_
    else:
        lo, hi = from_, to
    lo, hi = _bounds("random_", lo, hi)
    return _fill(self, "random_", numpy_generator(generator).integers(lo, hi, self._array.shape))
