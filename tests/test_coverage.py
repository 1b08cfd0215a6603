"""Every native kernel in nncore._C is covered, from one table: the binding file that defines an
op names its family (``cpp/bindings/<family>.cpp``), and the op needs an OpSpec in that family's
spec table (``SPECS`` of tests/ops/test_<family>.py; the namespace ops' tests in tests/tensor_ops
count too). Optimizer steps are covered by tests/test_optim.py's NATIVE_STEPS. The family test
files hold no coverage lists of their own."""

from __future__ import annotations

import glob
import importlib
import os
import pkgutil
import re

import nncore as nc
import ops
import tensor_ops

NOT_KERNELS = {"build_info", "default_num_threads", "get_num_threads", "set_num_threads"}
BINDINGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cpp",
                        "bindings")


def native_families() -> dict[str, str]:
    """Native op -> its family: the binding file that defines ``<op>_forward``."""
    out = {}
    for path in sorted(glob.glob(os.path.join(BINDINGS, "*.cpp"))):
        family = os.path.basename(path)[:-4]
        with open(path) as f:
            text = f.read()
        names = set(re.findall(r"NNC_OP_NAMES\((\w+)\)", text))
        names |= set(re.findall(r'"(\w+)_forward"', text))
        for op in names:
            out[op] = family
    return out


def spec_tables() -> dict[str, set[str]]:
    """Spec-table module ("ops.test_linear", "tensor_ops.test_pointwise"...) -> op names."""
    tables = {}
    for package in (ops, tensor_ops):
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            tables[module.__name__] = {spec.name for spec in getattr(module, "SPECS", [])}
    return tables


def native_pairs() -> tuple[set[str], set[str]]:
    """(ops with a forward/backward pair, optimizer steps) in nncore._C."""
    # NOTE: the profiler's switch, the peak microbenchmarks and the buffer pool are tools, not ops.
    names = {n for n in dir(nc._C) if not n.startswith(("_", "profiler_", "bench_", "pool_"))}
    kernels = names - NOT_KERNELS
    pairs = {n.rsplit("_", 1)[0] for n in kernels if n.endswith(("_forward", "_backward"))}
    for op in pairs:
        assert f"{op}_forward" in kernels and f"{op}_backward" in kernels, op
    steps = {n for n in kernels if n.endswith("_step")}
    assert kernels == {f"{op}_{kind}" for op in pairs for kind in ("forward", "backward")
                       } | steps, "a native function is neither an op pair nor an optimizer step"
    return pairs, steps


def test_every_native_op_has_a_spec_in_its_family() -> None:
    pairs, steps = native_pairs()
    families = native_families()
    tables = spec_tables()
    unbound = pairs - set(families)
    assert not unbound, f"native ops not found in any cpp/bindings/<family>.cpp: {sorted(unbound)}"
    namespace = set().union(*(v for k, v in tables.items() if k.startswith("tensor_ops.")))
    missing = sorted(f"{op} (tests/ops/test_{families[op]}.py)" for op in pairs
                     if op not in tables.get(f"ops.test_{families[op]}", set()) | namespace)
    assert not missing, f"native ops without an OpSpec in their family's table: {missing}"
    if steps:
        import test_optim

        assert steps <= set(test_optim.NATIVE_STEPS), sorted(steps - set(test_optim.NATIVE_STEPS))


def test_every_spec_names_a_family_op_or_a_numpy_op() -> None:
    # NOTE: a spec of a native op sits in its family's table (a NumPy op's spec, named after
    # the op, may sit anywhere); catches an op moved to another family without its specs.
    families = native_families()
    for module, names in spec_tables().items():
        if not module.startswith("ops."):
            continue
        family = module.removeprefix("ops.test_")
        stray = sorted(n for n in names if families.get(n, family) != family)
        assert not stray, f"{module} holds specs of other families' native ops: {stray}"
