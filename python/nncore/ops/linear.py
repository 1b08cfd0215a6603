"""The linear family: matmul, linear (x @ W^T + b) and linear_relu, all native."""

from __future__ import annotations

import math

import numpy as np

from nncore import _C
from nncore.autograd import Function, unbroadcast


class LinearFn(Function):
    """y = x @ weight^T + bias over the last axis of x; bias optional (a third input)."""

    def forward(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None
                ) -> np.ndarray:
        lead = x.shape[:-1]
        # NOTE: rows named, not -1 (ambiguous for NumPy when the input has no features).
        x2 = np.ascontiguousarray(x.reshape(math.prod(lead), x.shape[-1]) if x.ndim != 2 else x)
        if not weight.flags.c_contiguous:  # a transposed view (tied weights): the kernel's layout
            weight = np.ascontiguousarray(weight)
        self.save_for_backward(x2, weight)
        self.lead = lead
        y = _C.linear_forward(x2, weight, bias)
        return y if x.ndim == 2 else y.reshape(*lead, weight.shape[0])

    def backward(self, grad: np.ndarray) -> tuple:
        x2, weight = self.saved_tensors
        need = self.needs_input_grad
        # NOTE: rows named, not -1: with no output features -1 is ambiguous (NumPy refuses).
        dy = np.ascontiguousarray(grad.reshape(x2.shape[0], weight.shape[0]))
        dx, dw, db = _C.linear_backward(
            dy, x2, weight, need[0], need[1], len(need) > 2 and need[2]
        )
        if dx is not None and len(self.lead) != 1:
            dx = dx.reshape(*self.lead, weight.shape[1])
        return dx, dw, db


class LinearReluFn(Function):
    """y = relu(x @ weight^T + bias); saves y, whose sign is the ReLU's mask in backward."""

    def forward(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None
                ) -> np.ndarray:
        self.lead = x.shape[:-1]
        x2 = np.ascontiguousarray(x.reshape(math.prod(self.lead), x.shape[-1]))
        if not weight.flags.c_contiguous:  # as LinearFn
            weight = np.ascontiguousarray(weight)
        y = _C.linear_relu_forward(x2, weight, bias)
        self.save_for_backward(x2, weight, y)
        return y.reshape(*self.lead, weight.shape[0])

    def backward(self, grad: np.ndarray) -> tuple:
        x2, weight, y = self.saved_tensors
        need = self.needs_input_grad
        dy = np.ascontiguousarray(grad.reshape(y.shape), dtype=y.dtype)
        dx, dw, db = _C.linear_relu_backward(dy, y, x2, weight, need[0], need[1],
                                             len(need) > 2 and need[2])
        if dx is not None:
            dx = dx.reshape(*self.lead, weight.shape[1])
        return dx, dw, db


class MatmulFn(Function):
    """a @ b with NumPy's rules: 1-D operands promoted, batch dimensions broadcast."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.shapes = a.shape, b.shape
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        # NOTE: np.broadcast_shapes costs ~2 us, as much as a small product itself
        batch = () if a2.ndim == 2 and b2.ndim == 2 else np.broadcast_shapes(a2.shape[:-2],
                                                                              b2.shape[:-2])
        m, k, n = a2.shape[-2], a2.shape[-1], b2.shape[-1]
        if not batch:
            a3, b3 = np.ascontiguousarray(a2), np.ascontiguousarray(b2)
        else:
            a3 = np.ascontiguousarray(np.broadcast_to(a2, batch + (m, k))).reshape(-1, m, k)
            b3 = np.ascontiguousarray(np.broadcast_to(b2, batch + (k, n))).reshape(-1, k, n)
        self.save_for_backward(a3, b3)
        self.batch = batch
        y = _C.matmul_forward(a3, b3).reshape(batch + (m, n))
        if a.ndim == 1:
            y = y.squeeze(-2)
        if b.ndim == 1:
            y = y.squeeze(-1)
        return y

    def backward(self, grad: np.ndarray) -> tuple:
        a3, b3 = self.saved_tensors
        sa, sb = self.shapes
        m, n = a3.shape[-2], b3.shape[-1]
        dy = np.ascontiguousarray(grad.reshape(a3.shape[:-2] + (m, n)))
        da, db = _C.matmul_backward(dy, a3, b3, *self.needs_input_grad)
        if da is not None:
            da = da.reshape(self.batch + (m, a3.shape[-1]))
            da = unbroadcast(da, (sa if len(sa) > 1 else (1,) + sa)).reshape(sa)
        if db is not None:
            db = db.reshape(self.batch + b3.shape[-2:])
            db = unbroadcast(db, (sb if len(sb) > 1 else sb + (1,))).reshape(sb)
        return da, db
