// Thread control shared by every kernel: one number for OpenMP loops and Eigen's GEMM.
#pragma once
#include <cstdint>

namespace nnc {

void set_num_threads(int n);
int get_num_threads();

// NOTE: spinning up an OpenMP team costs a few microseconds, more than small elementwise work;
// below this many scalar operations a kernel runs serially (measured on the 2-core machines).
constexpr int64_t kParallelGrain = 1 << 15;

inline bool run_parallel(int64_t work) { return work >= kParallelGrain && get_num_threads() > 1; }

}  // namespace nnc
