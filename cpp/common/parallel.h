// Thread control shared by every kernel: one process-wide thread count, and parallel_for over a
// small pool of nncore's own threads (no OpenMP: PyTorch's runtime and settings stay untouched).
//
// NOTE: why not OpenMP. An OpenMP region ends at a barrier that waits for every thread of the
// team; with other processes holding the cores, a descheduled thread stalls each region for a
// scheduler time slice (measured: 2 threads at 0.02-1.07x of 1 thread with two spinning
// processes). In parallel_for the calling thread claims every chunk no worker has claimed (one
// atomic counter), so a worker that has not started costs nothing: the caller waits only for
// chunks a worker has already begun.
#pragma once
#include <cstdint>

namespace nnc {

// set_num_threads accepts 1..kMaxThreads (a bigger count is an error, not a crash).
constexpr int kMaxThreads = 256;

// Threads every kernel may use, for the whole process (any Python thread). Throws
// std::invalid_argument (ValueError) outside [1, kMaxThreads].
void set_num_threads(int n);
int get_num_threads();

// The CPUs this process may use: its affinity mask, capped by a cgroup v2 (cpu.max) or v1
// (cpu.cfs_quota_us / cpu.cfs_period_us) CPU quota, rounded up; at least 1.
int default_num_threads();

// True on a pool worker, and on a caller while it runs chunks: kernels nested inside a chunk
// run serially.
bool in_parallel();

// NOTE: waking a worker and sharing out chunks costs a few microseconds, more than small
// elementwise work; below this many scalar operations a kernel runs serially (measured on the
// 2-core machines).
constexpr int64_t kParallelGrain = 1 << 15;

inline bool run_parallel(int64_t work) {
  return work >= kParallelGrain && get_num_threads() > 1 && !in_parallel();
}

namespace detail {
using ChunkFn = void (*)(const void* ctx, int64_t i, int slot);
// The most chunks one run_chunks call takes (they are packed in 20 bits of the job word).
constexpr int64_t kMaxChunks = (int64_t{1} << 20) - 1;
void run_chunks(int64_t n, int team, ChunkFn fn, const void* ctx);
}  // namespace detail

// Calls f(i, slot) once for every i in [0, n), on up to `team` threads: slot is 0 on the calling
// thread and < team on a worker, so scratch indexed by slot needs `team` entries. Which thread
// runs which i varies from run to run: a result must depend on i only (fixed chunk boundaries,
// partial sums per chunk added in chunk order), never on slot or timing. Runs serially when team
// or n is 1, when nested in another parallel_for, or while another Python thread holds the pool.
// f must not throw (checks go before parallel_for); if it does, the first exception is rethrown
// here once every chunk has ended.
template <class F>
void parallel_for(int64_t n, int team, const F& f) {
  if (n <= 0) return;
  if (team <= 1 || n == 1 || in_parallel()) {
    for (int64_t i = 0; i < n; ++i) f(i, 0);
    return;
  }
  if (n > detail::kMaxChunks) {
    // Consecutive indices grouped into at most kMaxChunks chunks (not a recursive call: each
    // level would instantiate parallel_for for a new lambda type, without end).
    const int64_t per = (n + detail::kMaxChunks - 1) / detail::kMaxChunks;
    auto grouped = [&](int64_t g, int slot) {
      for (int64_t i = g * per; i < n && i < (g + 1) * per; ++i) f(i, slot);
    };
    using G = decltype(grouped);
    detail::run_chunks(
        (n + per - 1) / per, team,
        [](const void* ctx, int64_t i, int slot) { (*static_cast<const G*>(ctx))(i, slot); },
        &grouped);
    return;
  }
  detail::run_chunks(
      n, team,
      [](const void* ctx, int64_t i, int slot) { (*static_cast<const F*>(ctx))(i, slot); }, &f);
}

// parallel_for over [0, n) when `work` (scalar operations) is worth threads, else serial;
// f(i, slot) with slot < get_num_threads() at the call.
template <class F>
void parallel_for_work(int64_t n, int64_t work, const F& f) {
  parallel_for(n, run_parallel(work) ? get_num_threads() : 1, f);
}

// Calls f(begin, end) over [0, n) in fixed blocks of `block` (the last one shorter), in
// parallel when `work` is worth threads. The blocks depend on n and block only.
template <class F>
void parallel_blocks(int64_t n, int64_t block, int64_t work, const F& f) {
  if (n <= 0) return;
  block = block < 1 ? 1 : block;
  const int64_t blocks = (n + block - 1) / block;
  parallel_for_work(blocks, work, [&](int64_t i, int) {
    f(i * block, (i + 1) * block < n ? (i + 1) * block : n);
  });
}

}  // namespace nnc
