"""Which native module ``import nncore`` loads.

A wheel carries the kernels twice, built from the same sources: ``_C_avx512`` (x86-64-v4: AVX-512
F/CD/BW/DQ/VL) and ``_C_avx2`` (x86-64-v3: AVX2, FMA, F16C, BMI). nncore loads the best one the
CPU and the operating system can run (NumPy's CPU feature table: cpuid and XCR0, so an OS that
does not save the AVX-512 registers counts as no AVX-512). ``NNCORE_ISA=avx2|avx512`` asks for one;
a CPU that cannot run it raises ImportError instead of dying of SIGILL. A source build
(``pip install .``) has one module, ``_C``, built for the machine that compiled it; it is loaded
when no module of the pair is there (or none this CPU runs), and answers ``NNCORE_ISA`` when it
was built for the ISA asked.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import ModuleType
from typing import Any

#: The dispatching pair, best first: (NNCORE_ISA value, module, -march target, CPU features).
PAIR = (
    ("avx512", "_C_avx512", "x86-64-v4",
     ("AVX512F", "AVX512CD", "AVX512BW", "AVX512DQ", "AVX512VL")),
    ("avx2", "_C_avx2", "x86-64-v3", ("AVX", "AVX2", "FMA3", "F16C")),
)
_LEVEL_KEY = {"avx512": "X86_V4", "avx2": "X86_V3"}
_loaded: dict[str, Any] = {}


def cpu_features() -> dict[str, bool]:
    """NumPy's runtime CPU feature table (cpuid, with XCR0 for the OS's register support).

    Returns:
        feature name -> available; empty where NumPy has no table (then nothing is assumed).
    """
    for name in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):
        try:
            table = importlib.import_module(name).__cpu_features__
        except (ImportError, AttributeError):
            continue
        return {str(k): bool(v) for k, v in table.items()}
    return {}


def missing_features(isa: str, features: dict[str, bool] | None = None) -> list[str]:
    """The CPU features that ``isa`` needs and this CPU (or OS) lacks.

    Args:
        isa: "avx512" or "avx2".
        features: a feature table (default: ``cpu_features()``).

    Returns:
        Feature names, empty when the CPU can run the module.
    """
    features = cpu_features() if features is None else features
    entry = next(p for p in PAIR if p[0] == isa)
    # NOTE: newer NumPy names the x86-64 levels itself (X86_V3 adds BMI1/2, LZCNT, MOVBE to the
    # list above, which every AVX2 CPU has); older NumPy has only the single features.
    level = _LEVEL_KEY[isa]
    if level in features and not features[level]:
        return [level] + [f for f in entry[3] if not features.get(f, False)]
    return [f for f in entry[3] if not features.get(f, False)]


def runnable(features: dict[str, bool] | None = None) -> list[str]:
    """The ISAs of the pair this CPU can run, best first (``["avx512", "avx2"]`` here)."""
    features = cpu_features() if features is None else features
    return [isa for isa, *_ in PAIR if not missing_features(isa, features)]


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(f"nncore.{name}") is not None


def _import(name: str) -> ModuleType:
    return importlib.import_module(f"nncore.{name}")


def choose(requested: str, features: dict[str, bool], available: set[str],
           single: str | None) -> tuple[str, str]:
    """Which module to load, and why (pure: the tests drive it with made-up CPUs).

    Args:
        requested: NNCORE_ISA's value ("" or "auto": the best).
        features: the CPU feature table.
        available: modules of the pair present in the package.
        single: the ISA of a single source-built ``_C`` if one is present, else None.

    Returns:
        (module name, reason).

    Raises:
        ImportError: an unknown NNCORE_ISA, a CPU that cannot run the module asked for, or no
            module this CPU can run.
    """
    names = [isa for isa, *_ in PAIR]
    req = requested.strip().lower()
    if req not in ("", "auto") and req not in names:
        raise ImportError(f"nncore: NNCORE_ISA={requested!r} is not one of "
                          f"{', '.join(names)} (or auto)")
    can = runnable(features) if features else None
    if req in ("", "auto"):
        # NOTE: the pair wins over a source build's _C beside it: _C may be built for a newer
        # CPU than this one (-march=native), and its ISA is unknown until it is loaded.
        for isa, module, _, _ in PAIR:
            if module in available and (can is None or isa in can):
                return module, ("best this CPU runs" if can is not None
                                else "CPU features unknown (no NumPy table)")
        if single is not None:
            return "_C", "the single module of a source build"
        raise ImportError(
            "nncore: this CPU cannot run any of nncore's native modules "
            f"({', '.join(m for _, m, _, _ in PAIR if m in available) or 'none installed'}); "
            "the wheel needs x86-64-v3 (AVX2, FMA) at least: build from source "
            "(pip install --no-binary nncore nncore) for an older CPU")
    module = next(m for isa, m, _, _ in PAIR if isa == req)
    lacking = missing_features(req, features) if features else []
    if lacking:
        raise ImportError(
            f"nncore: NNCORE_ISA={req} asks for {module}, but this CPU (or its OS) lacks "
            f"{', '.join(lacking)}; it can run: {', '.join(can or []) or 'none of them'}. "
            "Unset NNCORE_ISA to load the best one")
    if module in available:
        return module, f"NNCORE_ISA={req}"
    if single == req:
        return "_C", f"NNCORE_ISA={req} (the single module of a source build, built for {req})"
    raise ImportError(
        f"nncore: NNCORE_ISA={req} asks for {module}, which this install does not have "
        f"({'a single module built for ' + single if single else 'no native module found'}); "
        "the dispatching pair comes with the wheel or a build with -DNNCORE_ISA_PAIR=ON "
        "(tools/build_wheel.sh)")


def load() -> ModuleType:
    """Import the native module this CPU and ``NNCORE_ISA`` call for, as ``nncore._C``.

    Returns:
        The extension module.
    """
    requested = os.environ.get("NNCORE_ISA", "")
    req = requested.strip().lower()
    available = {m for _, m, _, _ in PAIR if _has_module(m)}
    # NOTE: a source build's _C is imported only when it may be the answer.
    features = cpu_features()
    if req in ("", "auto"):
        can = runnable(features) if features else [isa for isa, *_ in PAIR]
        need_single = not any(m in available for isa, m, _, _ in PAIR if isa in can)
    else:
        need_single = next((m for isa, m, _, _ in PAIR if isa == req), None) not in available
    single_mod = _import("_C") if need_single and _has_module("_C") else None
    single = single_mod.build_info().get("isa") if single_mod is not None else None
    if single_mod is not None and single is None:
        single = "baseline"
    name, reason = choose(requested, features, available, single)
    module = single_mod if name == "_C" else _import(name)
    sys.modules["nncore._C"] = module
    info = module.build_info()
    _loaded.update(module=name, isa=info.get("isa"), target=info.get("target"), reason=reason,
                   cpu_runs=runnable(features) if features else None,
                   available=sorted(available | ({"_C"} if _has_module("_C") else set())))
    return module


def loaded() -> dict[str, Any]:
    """What ``import nncore`` loaded.

    Returns:
        ``{"module": "_C_avx512", "isa": "avx512", "target": "x86-64-v4", "reason": ...,
        "cpu_runs": ["avx512", "avx2"], "available": [...]}``; ``cpu_runs`` is None where NumPy
        has no CPU feature table.
    """
    return dict(_loaded)


def describe() -> str:
    """One line for ``nncore info``, the profiler's header and run records."""
    d = _loaded
    runs = ", ".join(d["cpu_runs"]) if d.get("cpu_runs") is not None else "unknown"
    return (f"{d.get('module')} ({d.get('isa')}, -march={d.get('target')}; {d.get('reason')}; "
            f"this CPU runs: {runs})")
