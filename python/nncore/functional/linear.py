"""Functional forms of the linear family: matmul, linear, linear_relu, bilinear."""

from __future__ import annotations

import numpy as np

from nncore.functional._checks import check_float, check_same_dtype
from nncore.ops.linear import LinearFn, LinearReluFn, MatmulFn
from nncore.tensor import Tensor


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product with NumPy's rules (1-D promotion, broadcast batch dimensions).

    Shape: a (..., m, k), b (..., k, n) -> (..., m, n).
    """
    check_float("matmul", "a", a)
    check_float("matmul", "b", b)
    check_same_dtype("matmul", ("a", a), ("b", b))
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(
            f"matmul: operands must be at least 1-D, got shapes {a.shape} and {b.shape}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied "
                         f"({k_a} != {k_b})")
    try:
        if a.ndim > 2 or b.ndim > 2:
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of {a.shape} and {b.shape} do not "
                         f"broadcast") from None
    return MatmulFn.apply(a, b)


_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)


def _check_linear(op: str, x: Tensor, weight: Tensor, bias: Tensor | None) -> None:
    # NOTE: plainly valid arguments (float Tensors of one dtype, matching shapes) pass in one
    # test: the checks below cost ~2.8 us, half of a small linear (every nn.Linear call comes
    # here). Anything else gets them, and their errors.
    if isinstance(x, Tensor) and isinstance(weight, Tensor):
        xa, wa = x._array, weight._array
        dt = wa.dtype
        if ((dt is _F32 or dt is _F64) and xa.dtype is dt and wa.ndim == 2 and xa.ndim >= 1
                and xa.shape[-1] == wa.shape[1]
                and (bias is None or (isinstance(bias, Tensor) and bias._array.dtype is dt
                                      and bias._array.shape == (wa.shape[0],)))):
            return
    check_float(op, "input", x)
    check_float(op, "weight", weight)
    xs, ws = x._array.shape, weight._array.shape
    if len(xs) < 1 or len(ws) != 2 or xs[-1] != ws[1]:
        raise ValueError(f"{op}: input of shape {x.shape} does not match weight of shape "
                         f"{weight.shape} (expected input (*, {weight.shape[-1]}))")
    if bias is None:
        check_same_dtype(op, ("input", x), ("weight", weight))
        return
    check_float(op, "bias", bias)
    check_same_dtype(op, ("input", x), ("weight", weight), ("bias", bias))
    if bias.shape != (weight.shape[0],):
        raise ValueError(f"{op}: bias of shape {bias.shape} does not match weight of shape "
                         f"{weight.shape}")


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x @ weight^T + bias.

    Args:
        x: input, shape (*, in_features).
        weight: shape (out_features, in_features).
        bias: shape (out_features,) or None.
    Returns:
        Tensor of shape (*, out_features).
    """
    _check_linear("linear", x, weight, bias)
    return LinearFn.apply(x, weight) if bias is None else LinearFn.apply(x, weight, bias)


def linear_relu(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = relu(x @ weight^T + bias), ``relu(linear(x, weight, bias))`` in one native op each
    way (no separate ReLU pass or array; the feed-forward block of a Transformer layer).

    Args:
        x: input, shape (*, in_features).
        weight: shape (out_features, in_features).
        bias: shape (out_features,) or None.
    Returns:
        Tensor of shape (*, out_features).
    """
    _check_linear("linear_relu", x, weight, bias)
    if bias is None:
        return LinearReluFn.apply(x, weight)
    return LinearReluFn.apply(x, weight, bias)


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None
             ) -> Tensor:
    """y[..., o] = input1 A_o input2^T + b_o for each output feature o.

    Composed of native matmuls and NumPy elementwise ops, so its gradient is the autograd of
    those ops.

    Args:
        input1: (*, in1_features).
        input2: (*, in2_features), the same leading shape.
        weight: (out_features, in1_features, in2_features).
        bias: (out_features,) or None.
    Returns:
        Tensor of shape (*, out_features).
    """
    op = "bilinear"
    check_float(op, "input1", input1)
    check_float(op, "input2", input2)
    check_float(op, "weight", weight)
    named = [("input1", input1), ("input2", input2), ("weight", weight)]
    if bias is not None:
        check_float(op, "bias", bias)
        named.append(("bias", bias))
    check_same_dtype(op, *named)
    if weight.ndim != 3:
        raise ValueError(f"{op}: expected a 3-D weight (out, in1, in2), got shape {weight.shape}")
    out_f, in1, in2 = weight.shape
    if input1.ndim < 1 or input1.shape[-1] != in1 or input2.ndim < 1 or \
            input2.shape[-1] != in2 or input1.shape[:-1] != input2.shape[:-1]:
        raise ValueError(f"{op}: input1 of shape {input1.shape} and input2 of shape "
                         f"{input2.shape} do not match weight of shape {weight.shape} "
                         f"(expected (*, {in1}) and (*, {in2}) with the same leading dims)")
    if bias is not None and bias.shape != (out_f,):
        raise ValueError(f"{op}: bias of shape {bias.shape} does not match weight of shape "
                         f"{weight.shape}")
    lead = tuple(input1.shape[:-1])
    x1 = input1.reshape(-1, in1)
    x2 = input2.reshape(-1, in2)
    if x1.shape[0] == 0:
        raise ValueError(f"{op}: empty input of shape {input1.shape}")
    # (B, in1) @ (in1, out * in2) -> (B, out, in2), then the dot with input2 over in2.
    w = weight.permute(1, 0, 2).reshape(in1, out_f * in2)
    t = matmul(x1, w).reshape(-1, out_f, in2)
    y = (t * x2.reshape(-1, 1, in2)).sum(-1)
    if bias is not None:
        y = y + bias
    return y.reshape(lead + (out_f,))
