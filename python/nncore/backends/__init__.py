"""``nncore.backends``: PyTorch's backend switches. nncore has no CUDA/cuDNN/MPS backends, so
their ``is_available()`` is False and their flags (``cudnn.benchmark``, ``cuda.matmul.allow_tf32``)
are plain settings that change nothing; ``cpu.get_cpu_capability()`` names the SIMD level the
native kernels were built for."""

from __future__ import annotations

from types import SimpleNamespace

__all__ = ["cpu", "cuda", "cudnn", "mkldnn", "mps", "openmp"]


class _Switches(SimpleNamespace):
    """Flags scripts set and read; ``is_available()`` answers False."""

    def is_available(self) -> bool:
        return False

    def is_built(self) -> bool:
        return False


cudnn = _Switches(enabled=True, benchmark=False, deterministic=False, allow_tf32=True)
_matmul = SimpleNamespace(allow_tf32=False, allow_fp16_reduced_precision_reduction=True,
                          allow_bf16_reduced_precision_reduction=True)
cuda = _Switches(matmul=_matmul,
                 flash_sdp_enabled=lambda: False, mem_efficient_sdp_enabled=lambda: False,
                 math_sdp_enabled=lambda: True)
mps = _Switches()
mkldnn = _Switches(enabled=False)


class _OpenMP:
    def is_available(self) -> bool:
        return True


openmp = _OpenMP()


class _CPU:
    def get_cpu_capability(self) -> str:
        """The ISA of the loaded native module, in PyTorch's spelling (``"AVX512"``, ``"AVX2"``
        or ``"DEFAULT"``): the wheel's ``_C_avx512`` or ``_C_avx2`` as ``NNCORE_ISA`` or the CPU
        chose."""
        from nncore import _C

        isa = str(_C.build_info().get("isa", ""))
        return {"avx512": "AVX512", "avx2": "AVX2"}.get(isa, "DEFAULT")


cpu = _CPU()
