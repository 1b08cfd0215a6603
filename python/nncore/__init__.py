"""nncore: a neural-network library for the CPU.

C++17/Eigen/OpenMP kernels under PyTorch's Python API: ``import nncore as torch`` and a training
script's Tensor, autograd, ``nn``, ``optim`` and ``utils.data`` calls run on nncore.
"""

from __future__ import annotations

import os
import sys

# NOTE: NumPy's OpenBLAS threads keep spinning after a call and steal the second core from the
# next OpenMP kernel (design.md: up to 9.6x slower); nncore does no BLAS work through NumPy, so
# one BLAS thread costs nothing. Only possible before NumPy loads.
if "numpy" not in sys.modules:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# NOTE: the wheel's two builds of the kernels (AVX-512, AVX2): _isa picks the one this CPU runs
# (or NNCORE_ISA names) and registers it as nncore._C, which every other module imports.
from nncore import _isa  # noqa: E402

_C = _isa.load()
from nncore.amp import autocast  # noqa: E402
from nncore.autograd import (  # noqa: E402
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from nncore.devices import device  # noqa: E402
from nncore.dtypes import *  # noqa: E402,F403
from nncore.random import (  # noqa: E402
    Generator,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    seed,
    set_rng_state,
)
from nncore.settings import *  # noqa: E402,F403
from nncore.tensor import Size, Tensor  # noqa: E402
from nncore.tensor_ops.comparison import *  # noqa: E402,F403
from nncore.tensor_ops.creation import *  # noqa: E402,F403
from nncore.tensor_ops.indexing import *  # noqa: E402,F403
from nncore.tensor_ops.linalg import *  # noqa: E402,F403
from nncore.tensor_ops.ordering import *  # noqa: E402,F403
from nncore.tensor_ops.pointwise import *  # noqa: E402,F403
from nncore.tensor_ops.reduction import *  # noqa: E402,F403
from nncore.tensor_ops.sampling import *  # noqa: E402,F403
from nncore.tensor_ops.shape import *  # noqa: E402,F403
from nncore.tensor_ops.transcendental import *  # noqa: E402,F403
from nncore.tensor_ops.types import *  # noqa: E402,F403

__version__ = _C.build_info()["version"]


from nncore import threads  # noqa: E402
from nncore.threads import get_num_threads, set_num_threads  # noqa: E402

threads._from_environment()

from nncore import _methods  # noqa: E402
from nncore._namespace import *  # noqa: E402,F403

_methods.install()

from nncore import (  # noqa: E402
    _namespace,  # noqa: E402
    autograd,
    data,
    functional,
    linalg,
    memory,
    metrics,
    nn,
    onnx,
    optim,
    profiler,
    utils,
)
from nncore import dtypes as _dtypes  # noqa: E402
from nncore import settings as _settings  # noqa: E402
from nncore.data import datasets  # noqa: E402
from nncore.serialization import load, save  # noqa: E402
from nncore.tensor_ops import MODULES as _MODULES  # noqa: E402

__all__ = [
    "Generator", "Size", "Tensor", "autocast", "autograd", "data", "datasets",
    "default_generator", "device", "enable_grad", "functional", "get_num_threads",
    "get_rng_state", "inference_mode", "initial_seed", "is_grad_enabled",
    "is_inference_mode_enabled", "linalg", "load", "manual_seed", "memory", "metrics", "nn",
    "no_grad", "onnx", "optim", "profiler", "save", "seed", "set_grad_enabled",
    "set_num_threads", "set_rng_state", "utils",
]
for _module in (_dtypes, _settings, *_MODULES, _namespace):
    __all__ += _module.__all__

# NOTE: subpackages a script may reach as attributes, imported on first use (as scipy.stats):
# the optional and heavier ones stay out of `import nncore`'s time.
_LAZY = ("accelerator", "amp", "backends", "cpu", "cuda", "distributed", "explain", "fairness",
         "jit", "report", "robust", "serialization", "train")


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"nncore.{name}")
    from nncore._unsupported import missing

    missing("torch", name, "module 'nncore'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if os.environ.get("NNCORE_PROFILE", "0") not in ("", "0"):
    profiler._profile_script()  # profile the whole script, print the table at exit
