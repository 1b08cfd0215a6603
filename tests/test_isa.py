"""The wheel's two native modules: which one `import nncore` loads (cpuid/XCR0 through NumPy's
feature table, NNCORE_ISA), the errors instead of SIGILL, and that `_C_avx2` and `_C_avx512`
agree on the ops whose vector code differs by width. The pair exists after a build with
-DNNCORE_ISA_PAIR=ON (the wheel, tools/build_isa_pair.sh); tests that run a module skip when it
is not installed or this CPU cannot run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import nncore as nc
from nncore import _isa

PYTHON_DIR = os.path.dirname(os.path.dirname(nc.__file__))
PACKAGE_DIR = os.path.dirname(nc.__file__)

AVX512_CPU = dict.fromkeys(["AVX", "AVX2", "FMA3", "F16C", "AVX512F", "AVX512CD", "AVX512BW",
                            "AVX512DQ", "AVX512VL", "X86_V3", "X86_V4"], True)
AVX2_CPU = dict(AVX512_CPU, AVX512F=False, AVX512CD=False, AVX512BW=False, AVX512DQ=False,
                AVX512VL=False, X86_V4=False)
# AVX-512 in cpuid, but an OS that does not enable the ZMM state in XCR0: NumPy reports no
# AVX512F (and no X86_V4) then.
OLD_CPU = dict(AVX2_CPU, AVX2=False, FMA3=False, X86_V3=False)
PAIR = {"_C_avx2", "_C_avx512"}


def _present(module: str) -> bool:
    return any(f.startswith(module + ".") and f.endswith((".so", ".pyd"))
               for f in os.listdir(PACKAGE_DIR))


def _runnable(isa: str) -> bool:
    return _present(f"_C_{isa}") and not _isa.missing_features(isa)


# ---- the choice, on made-up CPUs ----
def test_best_module_for_the_cpu() -> None:
    assert _isa.choose("", AVX512_CPU, PAIR, None) == ("_C_avx512", "best this CPU runs")
    assert _isa.choose("auto", AVX2_CPU, PAIR, None) == ("_C_avx2", "best this CPU runs")
    assert _isa.choose("", AVX512_CPU, {"_C_avx2"}, None)[0] == "_C_avx2"
    assert _isa.runnable(AVX512_CPU) == ["avx512", "avx2"]
    assert _isa.runnable(AVX2_CPU) == ["avx2"]
    assert _isa.runnable(OLD_CPU) == []


def test_nncore_isa_overrides_and_refuses_what_the_cpu_cannot_run() -> None:
    assert _isa.choose("avx2", AVX512_CPU, PAIR, None) == ("_C_avx2", "NNCORE_ISA=avx2")
    assert _isa.choose(" AVX512 ", AVX512_CPU, PAIR, None)[0] == "_C_avx512"
    with pytest.raises(ImportError, match=r"NNCORE_ISA=avx512 asks for _C_avx512, but this CPU "
                                          r"\(or its OS\) lacks X86_V4, AVX512F.*can run: avx2"):
        _isa.choose("avx512", AVX2_CPU, PAIR, None)
    with pytest.raises(ImportError, match="NNCORE_ISA='sse4' is not one of avx512, avx2"):
        _isa.choose("sse4", AVX512_CPU, PAIR, None)
    with pytest.raises(ImportError, match="cannot run any of nncore's native modules"):
        _isa.choose("", OLD_CPU, PAIR, None)


def test_older_numpy_without_level_names() -> None:
    cpu = {k: v for k, v in AVX2_CPU.items() if not k.startswith("X86_")}
    assert _isa.missing_features("avx512", cpu) == ["AVX512F", "AVX512CD", "AVX512BW",
                                                    "AVX512DQ", "AVX512VL"]
    assert _isa.missing_features("avx2", cpu) == []


def test_source_build_single_module() -> None:
    assert _isa.choose("", AVX512_CPU, set(), "avx512")[0] == "_C"
    assert _isa.choose("avx512", AVX512_CPU, set(), "avx512")[0] == "_C"
    # With the pair beside it, the pair wins (_C may be -march=native for a newer CPU), unless
    # this CPU runs none of the pair.
    assert _isa.choose("", AVX2_CPU, PAIR, "avx512")[0] == "_C_avx2"
    assert _isa.choose("avx2", AVX512_CPU, PAIR, "avx512")[0] == "_C_avx2"
    assert _isa.choose("", OLD_CPU, PAIR, "baseline")[0] == "_C"
    with pytest.raises(ImportError, match="a single module built for avx512.*NNCORE_ISA_PAIR"):
        _isa.choose("avx2", AVX512_CPU, set(), "avx512")


def test_loaded_module_is_described() -> None:
    loaded = _isa.loaded()
    info = nc._C.build_info()
    assert loaded["isa"] == info["isa"] and loaded["module"] == info["module"]
    assert sys.modules["nncore._C"] is nc._C
    assert info["isa"] in ("avx512", "avx2", "baseline")
    assert nc._C.bench_fma_lanes() == {"avx512": 16, "avx2": 8}.get(info["isa"],
                                                                   nc._C.bench_fma_lanes())
    assert loaded["module"] in _isa.describe()
    assert nc.backends.cpu.get_cpu_capability() == {"avx512": "AVX512", "avx2": "AVX2"}.get(
        info["isa"], "DEFAULT")


# ---- the real modules, one subprocess each ----
_PROBE = r"""
import json, sys
import numpy as np
import nncore as nc
import nncore.nn.functional as F
from nncore import _isa

rng = np.random.default_rng(7)
out = {"loaded": _isa.loaded(), "lanes": nc._C.bench_fma_lanes(), "info": nc._C.build_info()}
x = nc.tensor(rng.standard_normal((3, 5, 30, 34)).astype(np.float32), requires_grad=True)
w = nc.tensor(rng.standard_normal((7, 5, 3, 3)).astype(np.float32), requires_grad=True)
y = F.conv2d(x, w, padding=1)
# NOTE: planes of 15x17 windows: whole 16-wide steps, steps past a row's end and a scalar tail.
p = F.max_pool2d(y, 2)
(p * p).sum().backward()
q = nc.tensor(rng.standard_normal((2, 3, 37, 16)).astype(np.float32), requires_grad=True)
a = F.scaled_dot_product_attention(q, q * 0.5, q, is_causal=True)
a.sum().backward()
lin = F.linear(nc.tensor(rng.standard_normal((19, 33)).astype(np.float32)),
               nc.tensor(rng.standard_normal((17, 33)).astype(np.float32)))
arrays = {"conv": y.detach().numpy(), "pool": p.detach().numpy(), "dx": x.grad.numpy(),
          "dw": w.grad.numpy(), "attn": a.detach().numpy(), "dq": q.grad.numpy(),
          "linear": lin.numpy()}
np.savez(sys.argv[1], **arrays)
print(json.dumps(out))
"""


def _run(isa: str, tmp_path, extra_env: dict | None = None) -> tuple[dict, dict]:
    path = str(tmp_path / f"{isa}.npz")
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR, NNCORE_ISA=isa, **(extra_env or {}))
    out = subprocess.run([sys.executable, "-c", _PROBE, path], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(out.stdout.strip().splitlines()[-1]), arrays


@pytest.mark.parametrize("isa,lanes,target", [("avx2", 8, "x86-64-v3"),
                                              ("avx512", 16, "x86-64-v4")])
def test_each_module_loads_as_asked(isa, lanes, target, tmp_path) -> None:
    if not _runnable(isa):
        pytest.skip(f"_C_{isa} not built (NNCORE_ISA_PAIR) or not runnable on this CPU")
    meta, _ = _run(isa, tmp_path)
    assert meta["loaded"]["module"] == f"_C_{isa}" and meta["loaded"]["isa"] == isa
    assert meta["info"]["target"] == target and f"-march={target}" in meta["info"]["flags"]
    assert meta["lanes"] == lanes


def test_modules_agree(tmp_path) -> None:
    if not (_runnable("avx2") and _runnable("avx512")):
        pytest.skip("the ISA pair is not built (NNCORE_ISA_PAIR) or this CPU lacks AVX-512")
    _, a2 = _run("avx2", tmp_path)
    _, a5 = _run("avx512", tmp_path)
    for name in a2:
        assert a2[name].shape == a5[name].shape, name
        # NOTE: GEMM blocking and packet widths change the summation order: close, not equal.
        np.testing.assert_allclose(a2[name], a5[name], rtol=2e-5, atol=2e-5, err_msg=name)
    # Max pooling only picks and moves values: the same bits at every width.
    np.testing.assert_array_equal(a2["pool"], a5["pool"])


def test_nncore_info_names_the_module() -> None:
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR)
    out = subprocess.run([sys.executable, "-m", "nncore.cli", "info"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if ln.strip().startswith("module:"))
    assert _isa.loaded()["module"] in line and "this CPU runs" in line


def test_bad_nncore_isa_fails_at_import_with_a_message() -> None:
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR, NNCORE_ISA="avx1024")
    out = subprocess.run([sys.executable, "-c", "import nncore"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 1
    assert "ImportError: nncore: NNCORE_ISA='avx1024' is not one of avx512, avx2" in out.stderr


def test_run_records_and_reports_name_the_module() -> None:
    from nncore.report import environment_info
    from nncore.train.runs import environment

    loaded = _isa.loaded()
    for env in (environment(), environment_info()):
        assert env["isa"] == loaded["isa"] and env["native_module"] == loaded["module"]
