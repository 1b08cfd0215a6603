"""``nncore.einsum``: the equation parsed once, then lowered to PyTorch-like primitives.

Two operands without a label repeated inside either become one (batched) matrix product on the
native GEMM (``MatmulFn``): labels only one operand has and the output lacks are summed out
first, then each operand is permuted to (batch, kept, contracted) and reshaped to 3-D. More
operands contract left to right the same way. The rest (one operand, diagonals such as
``'ii->i'``, integer dtypes) runs ``np.einsum`` in a differentiable ``EinsumFn``.
"""

from __future__ import annotations

import functools
import math
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


def _sizes(subs: list[str], shapes: tuple) -> dict:
    sizes: dict[str, int] = {}
    for i, (sub, shape) in enumerate(zip(subs, shapes)):
        for c, n in zip(sub, shape):
            seen = sizes.get(c, 1)
            if n != seen and n != 1 and seen != 1:
                raise RuntimeError(f"einsum(): subscript {c} has size {n} for operand {i} which "
                                   f"does not broadcast with previously seen size {seen}")
            sizes[c] = n if seen == 1 else seen
    return sizes


def _perm(sub: str, order: str) -> tuple | None:
    perm = tuple(sub.index(c) for c in order)
    return None if perm == tuple(range(len(perm))) else perm


def _lone(sub: str, other: str, keep: str) -> tuple:
    """(axes of sub that neither ``other`` nor ``keep`` has, or None; the labels left)."""
    axes = tuple(i for i, c in enumerate(sub) if c not in other and c not in keep)
    return (axes or None), "".join(c for i, c in enumerate(sub) if i not in axes)


def _pair_plan(sa: str, sb: str, keep: str, sizes: dict) -> tuple:
    """How a (labels sa) and b (sb) contract onto the labels of ``keep`` they have: summed
    axes, permutations and shapes for one batched GEMM (a broadcast product when nothing is
    contracted). Returns (step, labels of the result)."""
    sum_a, sa = _lone(sa, sb, keep)
    sum_b, sb = _lone(sb, sa, keep)
    batch = "".join(c for c in sa if c in sb and c in keep)
    contracted = "".join(c for c in sa if c in sb and c not in keep)
    a_kept = "".join(c for c in sa if c not in sb)
    b_kept = "".join(c for c in sb if c not in sa)
    out = batch + a_kept + b_kept

    def sizes_of(labels: str) -> list:
        return [sizes[c] for c in labels]

    if not contracted:
        shape_a = tuple(sizes_of(batch + a_kept) + [1] * len(b_kept))
        shape_b = tuple(sizes_of(batch) + [1] * len(a_kept) + sizes_of(b_kept))
        return (sum_a, _perm(sa, batch + a_kept), shape_a, sum_b, _perm(sb, batch + b_kept),
                shape_b, None), out
    nb, m, k, n = (math.prod(sizes_of(x)) for x in (batch, a_kept, contracted, b_kept))
    lead = (nb,) if nb > 1 else ()
    return (sum_a, _perm(sa, batch + a_kept + contracted), lead + (m, k), sum_b,
            _perm(sb, batch + contracted + b_kept), lead + (k, n), tuple(sizes_of(out))), out


@functools.lru_cache(maxsize=512)
def _plan(equation: str, shapes: tuple, native: bool) -> tuple:
    """(subscripts, output, expanded shapes, GEMM steps or None, final permutation) of one
    equation at given shapes; cached, so a training loop parses each einsum once."""
    subs, out = _parse(equation, list(shapes))
    sizes = _sizes(subs, shapes)
    expand = tuple(None if shape == tuple(sizes[c] for c in sub) else
                   tuple(sizes[c] for c in sub) for sub, shape in zip(subs, shapes))
    if len(subs) == 1 or not native or any(len(set(sub)) != len(sub) for sub in subs):
        return subs, out, expand, None, None
    steps, acc = [], subs[0]
    for i in range(1, len(subs)):
        step, acc = _pair_plan(acc, subs[i], out + "".join(subs[i + 1:]), sizes)
        steps.append(step)
    return subs, out, expand, tuple(steps), _perm(acc, out)


def _prepared(t: Tensor, axes: tuple | None, perm: tuple | None, shape: tuple) -> Tensor:
    if axes is not None:
        t = basic.SumFn.apply(t, axis=axes, keepdim=False)
    if perm is not None:
        t = basic.PermuteFn.apply(t, axes=perm)
    return t if tuple(t._array.shape) == shape else basic.ReshapeFn.apply(t, shape=shape)


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
    dtype = operands[0]._array.dtype
    if any(t._array.dtype != dtype for t in operands):
        raise RuntimeError(f"einsum(): expected all operands to have the same dtype, got "
                           f"{[str(t.dtype) for t in operands]}")
    subs, out, expand, steps, final = _plan(
        equation, tuple(t._array.shape for t in operands), dtype in _NATIVE)
    operands = [t if e is None else t.expand(e) for t, e in zip(operands, expand)]
    if steps is None:
        return EinsumFn.apply(*operands, subscripts=list(subs), output=out)
    acc = operands[0]
    for b, (sum_a, perm_a, shape_a, sum_b, perm_b, shape_b, out_shape) in zip(operands[1:],
                                                                                steps):
        a2 = _prepared(acc, sum_a, perm_a, shape_a)
        b2 = _prepared(b, sum_b, perm_b, shape_b)
        if out_shape is None:
            acc = basic.MulFn.apply(a2, b2)
        else:
            acc = MatmulFn.apply(a2, b2)
            if acc._array.shape != out_shape:
                acc = basic.ReshapeFn.apply(acc, shape=out_shape)
    return acc if final is None else basic.PermuteFn.apply(acc, axes=final)
