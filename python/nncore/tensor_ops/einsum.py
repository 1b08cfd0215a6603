"""``nncore.einsum``: the equation parsed once, then lowered to PyTorch-like primitives.

Two operands without a label repeated inside either become one (batched) matrix product on the
native GEMM (``MatmulFn``): labels only one operand has and the output lacks are summed out
first, then each operand is permuted to (batch, kept, contracted) and reshaped to 3-D. More
operands contract left to right the same way. The rest (one operand, diagonals such as
``'ii->i'``, integer dtypes) runs ``np.einsum`` in a differentiable ``EinsumFn``.
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np

from nncore.ops import basic
from nncore.ops.linalg import EinsumFn
from nncore.ops.linear import MatmulFn
from nncore.tensor import Tensor

__all__ = ["einsum"]

_LETTERS = string.ascii_uppercase + string.ascii_lowercase
_NATIVE = (np.dtype(np.float32), np.dtype(np.float64))


def _sublist_equation(args: tuple) -> tuple[str, list]:
    """einsum(op0, sublist0, op1, sublist1, ..., [out]) as (equation, operands)."""
    def labels(sub: Any) -> str:
        return "".join("..." if s is Ellipsis else _LETTERS[int(s)] for s in sub)

    ops, subs = list(args[0::2]), [labels(s) for s in args[1::2]]
    out = None
    if len(subs) < len(ops):  # an odd count: the last operand is the output sublist
        out = labels(ops.pop())
    eq = ",".join(subs) + ("" if out is None else "->" + out)
    return eq, ops


def _parse(equation: str, shapes: list[tuple]) -> tuple[list[str], str]:
    """Explicit subscripts (one letter per dimension, ellipses replaced by unused letters,
    right-aligned) for each operand and the output."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    subs = lhs.split(",")
    if len(subs) > len(shapes):
        raise RuntimeError("einsum(): fewer operands were provided than specified in the "
                           "equation")
    if len(subs) < len(shapes):
        raise RuntimeError("einsum(): more operands were provided than specified in the "
                           "equation")
    for pos, c in enumerate(eq):
        if c not in _LETTERS and c not in ",.->":
            raise RuntimeError(f"einsum(): invalid subscript given at index {pos} in the "
                               f"equation string, subscripts must be in [a-zA-Z]")
    free = iter(c for c in _LETTERS if c not in eq)
    widths = []
    for i, (sub, shape) in enumerate(zip(subs, shapes)):
        letters = len(sub.replace("...", ""))
        if "..." in sub:
            if letters > len(shape):
                raise RuntimeError(f"einsum(): the number of subscripts in the equation "
                                   f"({letters}) is more than the number of dimensions "
                                   f"({len(shape)}) for operand {i}")
            widths.append(len(shape) - letters)
        elif letters != len(shape):
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({letters}) "
                               f"does not match the number of dimensions ({len(shape)}) for "
                               f"operand {i} and no ellipsis was given")
    ell = "".join(next(free) for _ in range(max(widths, default=0)))
    expanded = []
    it = iter(widths)
    for s in subs:
        if "..." in s:
            w = next(it)
            s = s.replace("...", ell[len(ell) - w:] if w else "", 1)
        expanded.append(s)
    if arrow:
        out = rhs.replace("...", ell, 1)
        for c in out:
            if not any(c in s for s in expanded):
                raise RuntimeError(f"einsum(): output subscript {c} does not appear in the "
                                   f"equation for any input operand")
            if out.count(c) > 1:
                raise RuntimeError(f"einsum(): output subscript {c} appears more than once in "
                                   f"the output")
    else:
        counts = "".join(expanded)
        out = ell + "".join(sorted(c for c in set(counts) if counts.count(c) == 1 and c not in
                                   ell))
    return expanded, out


def _sizes(subs: list[str], operands: list[Tensor]) -> dict:
    sizes: dict[str, int] = {}
    for i, (sub, t) in enumerate(zip(subs, operands)):
        for c, n in zip(sub, t.shape):
            seen = sizes.get(c, 1)
            if n != seen and n != 1 and seen != 1:
                raise RuntimeError(f"einsum(): subscript {c} has size {n} for operand {i} which "
                                   f"does not broadcast with previously seen size {seen}")
            sizes[c] = n if seen == 1 else seen
    return sizes


def _permuted(t: Tensor, sub: str, order: str) -> Tensor:
    perm = tuple(sub.index(c) for c in order)
    return t if perm == tuple(range(len(perm))) else t.permute(perm)


def _sum_lone(t: Tensor, sub: str, other: str, keep: str) -> tuple:
    """t with the labels neither ``other`` nor ``keep`` has summed out."""
    lone = tuple(i for i, c in enumerate(sub) if c not in other and c not in keep)
    if not lone:
        return t, sub
    return (basic.SumFn.apply(t, axis=lone, keepdim=False),
            "".join(c for i, c in enumerate(sub) if i not in lone))


def _pair(a: Tensor, sa: str, b: Tensor, sb: str, keep: str, sizes: dict) -> tuple:
    """a (labels sa) and b (sb) contracted onto the labels of ``keep`` they have, as one
    batched GEMM (or a broadcast product when nothing is contracted). Returns (tensor, labels).
    """
    a, sa = _sum_lone(a, sa, sb, keep)
    b, sb = _sum_lone(b, sb, sa, keep)
    batch = "".join(c for c in sa if c in sb and c in keep)
    contracted = "".join(c for c in sa if c in sb and c not in keep)
    a_kept = "".join(c for c in sa if c not in sb)
    b_kept = "".join(c for c in sb if c not in sa)
    out_labels = batch + a_kept + b_kept
    if not contracted:
        a2 = _permuted(a, sa, batch + a_kept).reshape(
            [sizes[c] for c in batch + a_kept] + [1] * len(b_kept))
        b2 = _permuted(b, sb, batch + b_kept).reshape(
            [sizes[c] for c in batch] + [1] * len(a_kept) + [sizes[c] for c in b_kept])
        return basic.MulFn.apply(a2, b2), out_labels

    def size(labels: str) -> int:
        return int(np.prod([sizes[c] for c in labels]))

    nb, m, k, n = size(batch), size(a_kept), size(contracted), size(b_kept)
    a3 = _permuted(a, sa, batch + a_kept + contracted).reshape(nb, m, k)
    b3 = _permuted(b, sb, batch + contracted + b_kept).reshape(nb, k, n)
    y = MatmulFn.apply(a3, b3) if nb > 1 else MatmulFn.apply(a3.reshape(m, k),
                                                              b3.reshape(k, n))
    return y.reshape([sizes[c] for c in out_labels]), out_labels


def einsum(*args: Any) -> Tensor:
    """Einstein summation: ``einsum('bij,bjk->bik', a, b)``, operands as varargs or one list,
    ``...`` for broadcast dimensions, no ``->`` for the implicit output (labels seen once, in
    alphabetical order), or the sublist form ``einsum(a, [0, 1], b, [1, 2], [0, 2])``.

    Returns:
        The result; differentiable in every floating operand.
    """
    if not args:
        raise TypeError("einsum(): expected an equation and operands")
    if isinstance(args[0], str):
        equation, operands = args[0], list(args[1:])
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = list(operands[0])
    else:
        equation, operands = _sublist_equation(args)
    for i, t in enumerate(operands):
        if not isinstance(t, Tensor):
            raise TypeError(f"einsum(): operand {i} must be a Tensor, not {type(t).__name__}")
    if not operands:
        raise RuntimeError("einsum(): must provide at least one operand")
    if len({t._array.dtype for t in operands}) > 1:
        raise RuntimeError(f"einsum(): expected all operands to have the same dtype, got "
                           f"{[str(t.dtype) for t in operands]}")
    subs, out = _parse(equation, [tuple(t.shape) for t in operands])
    sizes = _sizes(subs, operands)
    operands = [t if tuple(t.shape) == tuple(sizes[c] for c in s) else
                t.expand([sizes[c] for c in s]) for t, s in zip(operands, subs)]
    repeated = any(len(set(s)) != len(s) for s in subs)
    if len(operands) == 1 or repeated or operands[0]._array.dtype not in _NATIVE:
        return EinsumFn.apply(*operands, subscripts=subs, output=out)
    acc, acc_s = operands[0], subs[0]
    for i in range(1, len(operands)):
        later = out + "".join(subs[i + 1:])
        acc, acc_s = _pair(acc, acc_s, operands[i], subs[i], later, sizes)
    return _permuted(acc, acc_s, out)
