"""Every native kernel in nncore._C is covered: ops by an OpSpec in tests/ops or tests/tensor_ops,
optimizer steps by tests/test_optim.py's NATIVE_STEPS."""

from __future__ import annotations

import importlib
import pkgutil

import nncore as nc
import ops
import tensor_ops

NOT_KERNELS = {"build_info", "default_num_threads", "get_num_threads", "set_num_threads"}


def _spec_names() -> set[str]:
    names = set()
    for package in (ops, tensor_ops):
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            names |= {spec.name for spec in getattr(module, "SPECS", [])}
    return names


def test_every_native_op_has_a_spec() -> None:
    # NOTE: the profiler's switch, the peak microbenchmarks and the buffer pool are tools, not ops.
    names = {n for n in dir(nc._C) if not n.startswith(("_", "profiler_", "bench_", "pool_"))}
    kernels = names - NOT_KERNELS
    ops_with_pairs = {n.rsplit("_", 1)[0] for n in kernels if n.endswith(("_forward", "_backward"))}
    for op in ops_with_pairs:
        assert f"{op}_forward" in kernels and f"{op}_backward" in kernels, op
    steps = {n for n in kernels if n.endswith("_step")}
    assert kernels == {f"{op}_{kind}" for op in ops_with_pairs for kind in ("forward", "backward")
                       } | steps, "a native function is neither an op pair nor an optimizer step"
    missing = ops_with_pairs - _spec_names()
    assert not missing, f"native ops without an OpSpec in tests/ops or tests/tensor_ops: " \
        f"{sorted(missing)}"
    if steps:
        import test_optim

        assert steps <= set(test_optim.NATIVE_STEPS), sorted(steps - set(test_optim.NATIVE_STEPS))
