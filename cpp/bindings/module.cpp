// The only PYBIND11_MODULE: build facts and threads here, every family in its own bind_<f>().
#include <omp.h>

#include <Eigen/Core>

#include "bindings/common.h"
#include "common/parallel.h"

#ifndef NNCORE_VERSION
#define NNCORE_VERSION "dev"
#endif
#ifndef NNCORE_BUILD_FLAGS
#define NNCORE_BUILD_FLAGS ""
#endif
#ifndef NNCORE_COMPILER
#define NNCORE_COMPILER ""
#endif
// NOTE: the dispatching pair builds these sources twice, as _C_avx2 and _C_avx512 (CMakeLists);
// the module's name must match its file's for Python to find its init function.
#ifndef NNCORE_MODULE
#define NNCORE_MODULE _C
#endif
#ifndef NNCORE_TARGET
#define NNCORE_TARGET "default"
#endif
#define NNCORE_STR2(x) #x
#define NNCORE_STR(x) NNCORE_STR2(x)

namespace {

std::string simd_level() {
#if defined(__AVX512F__)
  return "AVX-512";
#elif defined(__AVX2__) && defined(__FMA__)
  return "AVX2+FMA";
#elif defined(__AVX__)
  return "AVX";
#elif defined(__SSE4_2__)
  return "SSE4.2";
#elif defined(__SSE2__)
  return "SSE2";
#elif defined(__ARM_NEON)
  return "NEON";
#else
  return "scalar";
#endif
}

// The vector ISA the kernels were compiled for, in NNCORE_ISA's spelling: "avx512" (F, BW, DQ,
// VL: x86-64-v4), "avx2" (AVX2 + FMA: x86-64-v3) or "baseline".
std::string isa() {
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && defined(__AVX512VL__)
  return "avx512";
#elif defined(__AVX2__) && defined(__FMA__)
  return "avx2";
#else
  return "baseline";
#endif
}

}  // namespace

PYBIND11_MODULE(NNCORE_MODULE, m) {
  namespace py = pybind11;
  m.doc() = "nncore native kernels (C++17, Eigen, OpenMP)";
  m.def("set_num_threads", &nnc::set_num_threads, py::arg("n"),
        "Threads of every native kernel, process-wide (1 to 256; else ValueError).");
  m.def("get_num_threads", &nnc::get_num_threads);
  m.def("default_num_threads", &nnc::default_num_threads,
        "The CPUs this process may use: affinity mask and cgroup CPU quota.");
  m.def("build_info", [] {
    py::dict d;
    d["version"] = NNCORE_VERSION;
    d["compiler"] = NNCORE_COMPILER;
    d["flags"] = NNCORE_BUILD_FLAGS;
    d["simd"] = simd_level();
    d["isa"] = isa();
    d["target"] = NNCORE_TARGET;
    d["module"] = NNCORE_STR(NNCORE_MODULE);
    d["eigen"] = std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) +
                 "." + std::to_string(EIGEN_MINOR_VERSION);
    d["eigen_simd"] = Eigen::SimdInstructionSetsInUse();
    d["openmp"] = _OPENMP;
    d["omp_max_threads"] = nnc::get_num_threads();  // nncore's pool, not OpenMP's
    d["omp_num_procs"] = omp_get_num_procs();
    return d;
  });
  m.def("pool_stats", [] {
    const nnc::PoolStats s = nnc::pool_stats();
    py::dict d;
    d["cached_bytes"] = s.cached_bytes;
    d["cached_buffers"] = s.cached_buffers;
    d["limit_bytes"] = s.limit_bytes;
    d["hits"] = s.hits;
    d["misses"] = s.misses;
    return d;
  });
  m.def("pool_clear", &nnc::pool_clear, "Frees every cached buffer of the output-array pool.");
  m.def("pool_set_limit", &nnc::pool_set_limit, py::arg("bytes"),
        "Caps the output-array pool's cached bytes (0 disables caching).");
  nnc::bind_linear(m);
  nnc::bind_activation(m);
  nnc::bind_loss(m);
  nnc::bind_optim(m);
  nnc::bind_conv(m);
  nnc::bind_pool(m);
  nnc::bind_norm(m);
  nnc::bind_profiler(m);
  nnc::bind_attention(m);
  nnc::bind_rnn(m);
  nnc::bind_sort(m);
}
