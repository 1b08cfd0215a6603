"""Per-op cost, nncore vs PyTorch, in one process on the same data: small ops where the Python
front-end's overhead is the cost (what a 4-parameter regression step is made of), and the
non-GEMM ops of a small GPT step at nanoGPT's shapes (batch 12, block 64, 4 heads, 128 wide).

Each row times a loop of ``inner`` calls, alternating nncore and PyTorch runs (so both see the
same machine drift), with both libraries' thread counts set before each row; it prints medians
per call and the ratio PyTorch / nncore (above 1: nncore faster) and writes JSON.

    python bench/bench_overhead.py [--threads 2] [--json bench/results/bench_overhead.json]
        [--quick] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import paired_median_times, print_table, write_json  # noqa: E402

import nncore as nc  # noqa: E402

# A case: name, inner calls per timed run, and a builder taking the library module (nncore or
# torch) and the shared NumPy data, returning the function to time.
Case = tuple[str, int, Callable[[Any, dict], Callable[[], Any]]]


def _t(lib: Any, a: np.ndarray, grad: bool = False) -> Any:
    return lib.tensor(a, requires_grad=grad)


def _backward(lib: Any, f: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> None:
        f().sum().backward()
    return run


def _small(lib: Any, d: dict) -> dict:
    return dict(x=_t(lib, d["x32"]), m=_t(lib, d["m32x4"]), w=_t(lib, d["w4x1"]),
                xg=_t(lib, d["x32"], True))


def _regression_step(lib: Any, d: dict) -> Callable[[], Any]:
    fc = lib.nn.Linear(4, 1)
    with lib.no_grad():
        fc.weight.copy_(_t(lib, d["w4x1"].T))
        fc.bias.zero_()
    w_target, b_target = _t(lib, d["w4x1"]), 0.5

    def step() -> None:
        x = lib.randn(32).unsqueeze(1)
        x = lib.cat([x ** i for i in range(1, 5)], 1)
        y = x.mm(w_target) + b_target
        fc.zero_grad()
        loss = lib.nn.functional.smooth_l1_loss(fc(x), y)
        loss.item()
        loss.backward()
        for p in fc.parameters():
            p.data.add_(-0.1 * p.grad)
    return step


def _gpt(lib: Any, d: dict, name: str) -> Callable[[], Any]:
    F = lib.nn.functional
    h = _t(lib, d["h768x512"], True)
    x = _t(lib, d["x768x128"], True)
    w = _t(lib, d["ones128"], True)
    z = _t(lib, d["z768x65"], True)
    y = _t(lib, d["y768"])
    qkv = _t(lib, d["qkv"], True)

    def sdpa() -> Any:
        q, k, v = qkv.split(128, dim=2)
        q, k, v = (t.view(12, 64, 4, 32).transpose(1, 2) for t in (q, k, v))
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return o.transpose(1, 2).contiguous().view(12, 64, 128)

    fns = {"gelu": lambda: F.gelu(h), "layer_norm": lambda: F.layer_norm(x, (128,), w),
           "cross_entropy": lambda: F.cross_entropy(z, y), "sdpa_causal": sdpa,
           "residual_add": lambda: x + x}
    return _backward(lib, fns[name])


def _on_small(op: Callable[[dict, Any], Any]) -> Callable[[Any, dict], Callable[[], Any]]:
    """A builder timing ``op(small tensors, lib)``."""
    def build(lib: Any, d: dict) -> Callable[[], Any]:
        s = _small(lib, d)
        return lambda: op(s, lib)
    return build


CASES: list[Case] = [
    ("tensor.shape", 2000, _on_small(lambda s, lib: s["x"].shape)),
    ("add(t, t)", 1000, _on_small(lambda s, lib: s["x"] + s["x"])),
    ("add(t, 1.0)", 1000, _on_small(lambda s, lib: s["x"] + 1.0)),
    ("mul(t, 2.0) grad", 1000, _on_small(lambda s, lib: s["xg"] * 2.0)),
    ("pow(t, 3)", 1000, _on_small(lambda s, lib: s["x"] ** 3)),
    ("unsqueeze", 1000, _on_small(lambda s, lib: s["x"].unsqueeze(1))),
    ("view(-1, 4)", 1000, _on_small(lambda s, lib: s["m"].view(-1, 4))),
    ("reshape(4, 32)", 1000, _on_small(lambda s, lib: s["m"].reshape(4, 32))),
    ("t[3] / t[:, 1:3]", 1000, _on_small(lambda s, lib: (s["m"][3], s["m"][:, 1:3]))),
    ("cat 4 x (32, 1)", 1000, _on_small(lambda s, lib: lib.cat([s["m"][:, :1]] * 4, 1))),
    ("mm (32,4)@(4,1)", 1000, _on_small(lambda s, lib: s["m"].mm(s["w"]))),
    ("matmul (32,4)@(4,1)", 1000, _on_small(lambda s, lib: s["m"] @ s["w"])),
    ("randn(32)", 1000, _on_small(lambda s, lib: lib.randn(32))),
    ("item()", 2000, _on_small(lambda s, lib: s["x"][0].item())),
    ("mul+sum+backward", 300, _on_small(lambda s, lib: (s["xg"] * 2).sum().backward())),
    ("regression step", 200, _regression_step),
    ("gelu fwd+bwd (768,512)", 10, lambda lib, d: _gpt(lib, d, "gelu")),
    ("layer_norm fwd+bwd (768,128)", 20, lambda lib, d: _gpt(lib, d, "layer_norm")),
    ("cross_entropy fwd+bwd (768,65)", 20, lambda lib, d: _gpt(lib, d, "cross_entropy")),
    ("sdpa causal split/view fwd+bwd", 5, lambda lib, d: _gpt(lib, d, "sdpa_causal")),
    ("residual add fwd+bwd (768,128)", 20, lambda lib, d: _gpt(lib, d, "residual_add")),
]


def _data() -> dict:
    rng = np.random.default_rng(0)
    f = np.float32
    return {"x32": rng.standard_normal(32).astype(f),
            "m32x4": rng.standard_normal((32, 4)).astype(f),
            "w4x1": rng.standard_normal((4, 1)).astype(f),
            "h768x512": rng.standard_normal((768, 512)).astype(f),
            "x768x128": rng.standard_normal((768, 128)).astype(f), "ones128": np.ones(128, f),
            "z768x65": rng.standard_normal((768, 65)).astype(f),
            "y768": rng.integers(0, 65, 768), "qkv": rng.standard_normal((12, 64, 384)).astype(f)}


def _loop(fn: Callable[[], Any], inner: int) -> Callable[[], None]:
    def go() -> None:
        for _ in range(inner):
            fn()
    return go


def run(threads: int, quick: bool, only: list[str] | None) -> list[list]:
    data = _data()
    rows = []
    for name, inner, build in CASES:
        if only and not any(o in name for o in only):
            continue
        nc.set_num_threads(threads)
        torch.set_num_threads(threads)
        nc.manual_seed(0)
        torch.manual_seed(0)
        fn_nc, fn_t = build(nc, data), build(torch, data)

        t_nc, t_t = paired_median_times(_loop(fn_nc, inner), _loop(fn_t, inner),
                                        repeats=5 if quick else 15)
        us_nc, us_t = 1e6 * t_nc / inner, 1e6 * t_t / inner
        rows.append([name, round(us_nc, 2), round(us_t, 2), round(us_t / us_nc, 2)])
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", nargs="*", default=None)
    a = p.parse_args()
    rows = run(a.threads, a.quick, a.only)
    header = ["op", "nncore us", "PyTorch us", "PyTorch / nncore"]
    print_table(f"Per-op cost, {a.threads} threads (medians; ratio > 1: nncore faster)", header,
                rows)
    if a.json:
        write_json(a.json, {"threads": a.threads, "header": header, "rows": rows})


if __name__ == "__main__":
    main()
