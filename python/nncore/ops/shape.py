"""Shape ops without a native kernel: splitting, flips, rolls, repeats, triangles, diagonals.

Splitting (``split``/``chunk``/``unbind``) makes one ``SplitFn`` node and one cheap
``SplitPieceFn`` per piece. A piece's backward writes its gradient into the split's one shared
buffer and hands the engine an empty token; ``SplitFn.backward`` (run after every piece, by
topological order) returns the buffer. So ``for x_t in x.split(1, dim=1)`` over T steps costs
O(size of x) in backward, where a full-size zero gradient per piece would cost O(T * size).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore.autograd import Function

# NOTE: what a piece hands the engine: a 0-d array, so summing T of them costs T scalar adds.
_TOKEN = np.zeros(())


class SplitFn(Function):
    """The node every piece of one split hangs from: forward is the input itself (no copy);
    backward returns the gradient buffer the pieces wrote into (zeros where no piece had a
    gradient)."""

    def forward(self, a: np.ndarray) -> np.ndarray:
        self.shape = a.shape
        self.buffer: np.ndarray | None = None
        self.pieces: list[tuple] = []  # each piece's index, in the order the pieces were made
        self.written: set[int] = set()  # positions (in pieces) of those that wrote a gradient
        return a

    def write(self, position: int, grad: np.ndarray) -> None:
        """Put piece ``position``'s gradient into the buffer.

        NOTE: the buffer is allocated uninitialised and each piece's first gradient is copied
        in, not added to zeros: zero-filling the whole buffer and adding into it cost two extra
        passes over memory (0.2 ms per split of nanoGPT's (12, 64, 384) q|k|v gradient).
        Regions of pieces that never got a gradient are zeroed in ``backward``.
        """
        index = self.pieces[position]
        if self.buffer is None:
            self.buffer = np.empty(self.shape, dtype=grad.dtype)
        if position in self.written:
            self.buffer[index] += grad
        else:
            self.buffer[index] = grad
            self.written.add(position)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        buf, written = self.buffer, self.written
        # NOTE: reset, so a retained graph starts from zeros next time.
        self.buffer, self.written = None, set()
        if buf is None:
            return np.zeros(self.shape, dtype=grad.dtype)
        if len(written) < len(self.pieces):
            for position, index in enumerate(self.pieces):
                if position not in written:
                    buf[index] = 0
        return buf


class SplitPieceFn(Function):
    """One piece ``a[index]`` (a basic index: a view) of the array a ``SplitFn`` passed on."""

    def forward(self, a: np.ndarray, *, index: tuple, split: SplitFn) -> np.ndarray:
        self.split = split
        self.position = len(split.pieces)
        split.pieces.append(index)
        return a[index]

    def backward(self, grad: np.ndarray) -> np.ndarray:
        self.split.write(self.position, grad)
        return _TOKEN


class FlipFn(Function):
    """a reversed along ``axes`` (a copy, as PyTorch's flip)."""

    def forward(self, a: np.ndarray, *, axes: tuple) -> np.ndarray:
        self.axes = axes
        return np.flip(a, axes).copy()

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return np.flip(grad, self.axes)


class RollFn(Function):
    """a rolled by ``shifts`` along ``axes`` (axes None: the flattened array)."""

    def forward(self, a: np.ndarray, *, shifts: Any, axes: Any) -> np.ndarray:
        self.shifts, self.axes = shifts, axes
        return np.roll(a, shifts, axes)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        back = -self.shifts if isinstance(self.shifts, int) else tuple(-s for s in self.shifts)
        return np.roll(grad, back, self.axes)


class TileFn(Function):
    """a repeated ``reps[i]`` times along each axis (``Tensor.repeat``); a has len(reps) dims."""

    def forward(self, a: np.ndarray, *, reps: tuple) -> np.ndarray:
        self.reps, self.in_shape = reps, a.shape
        return np.tile(a, reps)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        # NOTE: (r0*s0, r1*s1, ...) viewed as (r0, s0, r1, s1, ...), then summed over the r's.
        split = tuple(n for pair in zip(self.reps, self.in_shape) for n in pair)
        return grad.reshape(split).sum(axis=tuple(range(0, len(split), 2)))


class RepeatInterleaveFn(Function):
    """Each element of a along ``axis`` repeated ``repeats`` times (an int, or one count per
    element)."""

    def forward(self, a: np.ndarray, *, repeats: Any, axis: int) -> np.ndarray:
        self.repeats, self.axis, self.in_shape = repeats, axis, a.shape
        return np.repeat(a, repeats, axis=axis)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        axis, n = self.axis, self.in_shape[self.axis]
        if isinstance(self.repeats, int):
            shape = grad.shape[:axis] + (n, self.repeats) + grad.shape[axis + 1:]
            return grad.reshape(shape).sum(axis=axis + 1)
        counts = self.repeats
        out = np.zeros(self.in_shape, dtype=grad.dtype)
        used = np.flatnonzero(counts)
        if used.size:
            # NOTE: reduceat over non-empty segments only (an empty one would yield an element).
            starts = np.concatenate(([0], np.cumsum(counts)[:-1]))[used]
            sums = np.add.reduceat(grad, starts, axis=axis)
            out[(slice(None),) * axis + (used,)] = sums
        return out


class TriangleFn(Function):
    """The lower (``upper=False``) or upper triangle of the last two axes, the rest zero."""

    def forward(self, a: np.ndarray, *, diagonal: int, upper: bool) -> np.ndarray:
        self.diagonal, self.upper = diagonal, upper
        return (np.triu if upper else np.tril)(a, diagonal)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return (np.triu if self.upper else np.tril)(grad, self.diagonal)


def diagonal_view(a: np.ndarray, offset: int, axis1: int, axis2: int) -> np.ndarray:
    """A writeable view of a's diagonal over axis1 and axis2 as the last axis (NumPy's
    ``diagonal`` layout; its own result is read-only)."""
    n1, n2 = a.shape[axis1], a.shape[axis2]
    length = max(0, min(n1 + min(offset, 0), n2 - max(offset, 0)))
    start = [0] * a.ndim
    if length:
        start[axis1], start[axis2] = max(-offset, 0), max(offset, 0)
    base = a[tuple(slice(s, None) for s in start)] if length else a
    keep = [i for i in range(a.ndim) if i not in (axis1, axis2)]
    shape = tuple(a.shape[i] for i in keep) + (length,)
    strides = tuple(a.strides[i] for i in keep) + (a.strides[axis1] + a.strides[axis2],)
    return np.lib.stride_tricks.as_strided(base, shape, strides, writeable=a.flags.writeable)


class DiagonalFn(Function):
    """The diagonal of a over axis1, axis2 (offset above the main one), as the last axis."""

    def forward(self, a: np.ndarray, *, offset: int, axis1: int, axis2: int) -> np.ndarray:
        self.args, self.in_shape = (offset, axis1, axis2), a.shape
        return diagonal_view(a, offset, axis1, axis2)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        g = np.zeros(self.in_shape, dtype=grad.dtype)
        diagonal_view(g, *self.args)[...] = grad
        return g


class DiagEmbedFn(Function):
    """Zeros of ``shape`` with a's last axis written on the diagonal over axis1, axis2."""

    def forward(self, a: np.ndarray, *, shape: tuple, offset: int, axis1: int, axis2: int
                ) -> np.ndarray:
        self.args = offset, axis1, axis2
        out = np.zeros(shape, dtype=a.dtype)
        diagonal_view(out, offset, axis1, axis2)[...] = a
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return diagonal_view(grad, *self.args).copy()
